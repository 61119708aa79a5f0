"""A seeded server and a real Chromium for the web UI tests.

Without ``/usr/bin/chromium`` the tests skip with the reason, unless ``PHASELOOM_REQUIRE_SERVICES=1``
(CI, where ``.ci/run`` installs Debian's ``chromium``), where they fail.
"""

from __future__ import annotations

import os

import pytest

from phaseloom.db.engine import Database
from tests.conftest import service_unavailable
from tests.web.demo import CHROMIUM, CHROMIUM_ARGS, seed_demo, ui_server


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        service_unavailable(f"Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def site(sqlite_template, tmp_path):
    """A fresh demo database (SQLite), served on 127.0.0.1: ``(server, demo, db)``."""
    import shutil

    path = tmp_path / "web.db"
    shutil.copy(sqlite_template, path)
    db = Database.connect(f"sqlite:///{path}")
    demo = seed_demo(db)
    with ui_server(db) as server:
        yield server, demo, db
    db.dispose()


@pytest.fixture
def page(browser, site):
    """A browser tab signed in with the demo's admin token (handed over in the URL fragment)."""
    server, demo, _db = site
    context = browser.new_context(viewport={"width": 1700, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15000)  # a readiness wait, not a speed check: CI machines are shared
    tab.goto(f"{server.url}/board?project=demo#token={demo.admin_token}")
    tab.wait_for_selector("#board[data-loaded] .card")
    yield tab
    context.close()
