"""Screenshots of the web UI for the README: ``python scripts/screenshots.py`` writes docs/img/board.png and graph.png.

Seeds the browser tests' demo into a throw-away SQLite database, serves it on 127.0.0.1 and
drives Debian's Chromium (``/usr/bin/chromium``) with Playwright.
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
from tests.web.demo import CHROMIUM, CHROMIUM_ARGS, UiServer, seed_demo  # noqa: E402


def take(out: Path = ROOT / "docs" / "img") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        db = Database.connect(f"sqlite:///{folder}/screens.db")
        upgrade(db.engine)
        demo = seed_demo(db)
        with UiServer(db) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1800, "height": 640})
            page.goto(f"{server.url}/board?project=demo#token={demo.admin_token}")
            page.wait_for_selector("#board[data-loaded] .card")
            page.screenshot(path=out / "board.png", full_page=True)
            page.goto(f"{server.url}/graph?project=demo")
            page.wait_for_selector("#graph[data-loaded] .node")
            page.click(f".node[data-task-id='{demo.running_task}']")
            page.wait_for_selector("#detail-status")
            page.screenshot(path=out / "graph.png", full_page=True)
            browser.close()
        db.dispose()
    return [out / "board.png", out / "graph.png"]


if __name__ == "__main__":
    for path in take():
        print(path)
