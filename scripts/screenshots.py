"""Screenshots of the web UI for the README: ``python scripts/screenshots.py`` writes docs/img/*.png.

Seeds the browser tests' screen demo (the shipped workflow's seven board columns, two tickets with
tasks) into a throw-away SQLite database, serves it on 127.0.0.1 and drives Debian's Chromium
(``/usr/bin/chromium``) with Playwright at 1,400 x 900, the size ``tests/web/test_screens.py`` checks.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from phaseloom.db.engine import Database  # noqa: E402
from phaseloom.db.migrate import upgrade  # noqa: E402
from tests.web.demo import CHROMIUM, CHROMIUM_ARGS, seed_screens, ui_server  # noqa: E402

VIEWPORT = {"width": 1400, "height": 900}


def take(out: Path = ROOT / "docs" / "img") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as folder:
        db = Database.connect(f"sqlite:///{folder}/screens.db")
        upgrade(db.engine)
        demo = seed_screens(db)
        with ui_server(db) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{server.url}/board?project=demo#token={demo.admin_token}")
            page.wait_for_selector("#board[data-loaded] .card")
            page.wait_for_selector("#live-status[data-state='live']")
            written.append(_shot(page, out / "board.png"))
            page.goto(f"{server.url}/graph?project=demo")
            page.wait_for_selector("#graph[data-loaded] .node")
            page.click(f".node[data-task-id='{demo.running_task}']")
            page.wait_for_selector("#detail-status")
            page.wait_for_selector("#live-status[data-state='live']")
            written.append(_shot(page, out / "graph.png"))
            page.goto(f"{server.url}/workflow?project=demo")
            page.wait_for_selector(".workflow-graph svg")
            written.append(_shot(page, out / "workflow.png"))
            page.goto(f"{server.url}/stats?project=demo")
            page.wait_for_selector(".charts svg")
            page.wait_for_selector("#live-status[data-state='live']")
            written.append(_shot(page, out / "stats.png"))
            browser.close()
        db.dispose()
    return written


def _shot(page, path: Path) -> Path:
    page.wait_for_timeout(200)  # let the last layout settle (fonts, fitted labels)
    page.screenshot(path=path)
    return path


if __name__ == "__main__":
    for written in take():
        print(written)
