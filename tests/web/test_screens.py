"""Every page at 1,400 x 900 in Chromium, with the shipped workflow's seven board columns.

Each test saves a screenshot (``PHASELOOM_SCREENS=DIR`` keeps them there; else a temporary folder)
and checks what a person would see on it: nothing of the board off-screen, labels inside their
boxes, the same places after a reload, one live/static indicator in the same spot on every page.
"""

from __future__ import annotations

import os
import shutil
import struct

import pytest

from phaseloom.db.engine import Database
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.web.demo import LONG_TITLE, seed_screens, ui_server

pytestmark = pytest.mark.slow  # a real browser and a real server

VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def screens(sqlite_template, tmp_path_factory):
    """One seeded server for the module's read-only page checks: ``(server, demo)``."""
    folder = tmp_path_factory.mktemp("screens")
    shutil.copy(sqlite_template, folder / "screens.db")
    db = Database.connect(f"sqlite:///{folder / 'screens.db'}")
    demo = seed_screens(db)
    with ui_server(db) as server:
        yield server, demo
    db.dispose()


@pytest.fixture
def tab(browser, screens):
    server, demo = screens
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{server.url}/board?project=demo#token={demo.admin_token}")
    page.wait_for_selector("#board[data-loaded] .card")
    yield page, server, demo
    context.close()


def shoot(page, name: str, tmp_path) -> None:
    folder = os.environ.get("PHASELOOM_SCREENS") or tmp_path
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.png")
    page.screenshot(path=path)
    with open(path, "rb") as png:
        header = png.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1400, 900)


def outside(inner: dict, outer: dict, slack: float = 0.5) -> bool:
    return (inner["x"] < outer["x"] - slack or inner["y"] < outer["y"] - slack
            or inner["x"] + inner["width"] > outer["x"] + outer["width"] + slack
            or inner["y"] + inner["height"] > outer["y"] + outer["height"] + slack)


def test_board_shows_all_seven_columns_at_1400px(tab, tmp_path):
    page, _server, _demo = tab
    columns = page.locator("section.column")
    assert columns.count() == 7
    for i in range(7):
        box = columns.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"], (i, box)
        assert box["width"] >= 160, (i, box)
    assert page.evaluate("(() => { const b = document.getElementById('board');"
                         " return b.scrollWidth <= b.clientWidth; })()")
    assert page.locator("#board-scroll-hint").is_hidden()
    shoot(page, "board", tmp_path)


def test_a_narrow_board_scrolls_and_says_so(tab):
    page, _server, _demo = tab
    page.set_viewport_size({"width": 900, "height": 900})
    page.wait_for_selector("#board-scroll-hint:visible")
    assert page.evaluate("document.getElementById('board').classList.contains('more-right')")
    page.evaluate("document.getElementById('board').scrollLeft = 10000")
    page.wait_for_selector("#board.more-left:not(.more-right)")


def graph_places(page) -> dict[str, tuple[float, float]]:
    return {n.get_attribute("data-task-id"): (n.bounding_box()["x"], n.bounding_box()["y"])
            for n in page.locator(".node").all()}


def test_graph_labels_fit_lanes_keep_tickets_apart_and_places_are_stable(tab, tmp_path):
    page, server, demo = tab
    page.goto(f"{server.url}/graph?project=demo")
    page.wait_for_selector("#graph[data-loaded] .node")
    for node in page.locator(".node").all():
        rect = node.locator("rect").bounding_box()
        for text in node.locator("text").all():
            assert not outside(text.bounding_box(), rect), (node.get_attribute("aria-label"), text.text_content())
    # The whole graph fits the width: no phase column hidden behind a scrollbar.
    assert page.evaluate("(() => { const f = document.getElementById('graph');"
                         " return f.scrollWidth <= f.clientWidth; })()")
    # Two tickets with tasks, two lanes: every node of the first lies above every node of the second.
    lanes = [int(t.removeprefix("#")) for t in page.locator(".lane-title").all_text_contents()]
    assert len(lanes) == 2
    tops = {ticket: [page.locator(f".node[data-task-id='{task}']").bounding_box()["y"]
                     for task in ticket_tasks(page, ticket)] for ticket in lanes}
    assert max(tops[lanes[0]]) < min(tops[lanes[1]])
    before = graph_places(page)
    page.reload()
    page.wait_for_selector("#graph[data-loaded] .node")
    assert graph_places(page) == before
    shoot(page, "graph", tmp_path)


def ticket_tasks(page, ticket: int) -> set[int]:
    data = page.evaluate(f"""fetch('/api/tasks?ticket_id={ticket}&limit=500', {{headers: {{Authorization:
        'Bearer ' + sessionStorage.getItem('phaseloom.token')}}}}).then(r => r.json())""")
    return {item["id"] for item in data["items"]}


def test_workflow_draws_the_blocked_arcs_as_one_rail_and_long_names_fit(tab, tmp_path):
    page, server, _demo = tab
    page.goto(f"{server.url}/workflow?project=demo")
    page.wait_for_selector(".workflow-graph svg")
    assert page.locator(".hub-notation[data-hub='PHASE_BLOCKED']").count() == 1
    arcs = ".workflow-graph path[data-to='PHASE_BLOCKED'], .workflow-graph path[data-from='PHASE_BLOCKED']"
    assert page.locator(arcs).count() == 0  # no arc per phase: the rail stands for them
    assert "any phase → Blocked" in page.locator(".hub-label").first.text_content()
    assert "Blocked → back to" in page.locator(".hub-back").text_content()
    for rect in page.locator(".workflow-graph rect[data-phase-id]").all():
        name = rect.locator("xpath=following-sibling::*[1]")
        assert not outside(name.bounding_box(), rect.bounding_box()), name.text_content()
    shoot(page, "workflow", tmp_path)


PAGES = {  # page -> (path, what shows it has loaded, the indicator's state once it has)
    "board": ("/board?project=demo", "#board[data-loaded]", "live"),
    "graph": ("/graph?project=demo", "#graph[data-loaded]", "live"),
    "ticket": ("/ticket?id={ticket}", "#ticket[data-loaded]", "live"),
    "workflow": ("/workflow?project=demo", ".workflow-graph", "static"),
    "agents": ("/agents", "#agents tr[data-agent-id='ana']", "live"),
    "stats": ("/stats?project=demo", "#stats-table, .charts, table", "live"),
    "launch": ("/launch", "#launch", "static"),
}


def test_every_page_shows_the_same_live_or_static_indicator(tab, tmp_path):
    page, server, demo = tab
    seen = {}
    for name, (path, ready, state) in PAGES.items():
        page.goto(server.url + path.format(ticket=demo.testing_ticket))
        page.wait_for_selector(ready)
        indicator = page.locator(f"header.top #live-status[data-state='{state}']")
        indicator.wait_for()
        assert indicator.text_content() == state, name
        box = indicator.bounding_box()
        seen[name] = (round(box["x"] + box["width"]), round(box["y"]))  # right-aligned in the header
        if name not in ("board", "graph", "workflow"):
            shoot(page, name, tmp_path)
    assert len(set(seen.values())) == 1, seen


def test_the_long_title_card_stays_inside_its_column(tab):
    page, _server, _demo = tab
    card = page.locator(f".card:has-text('{LONG_TITLE[:30]}')")
    column = card.locator("xpath=ancestor::section[contains(@class, 'column')]")
    assert not outside(card.bounding_box(), column.bounding_box())


def test_a_column_over_its_limit_after_a_forced_move_says_over_limit(page, site):
    server, demo, db = site
    tickets = TicketService(UnitOfWork(db))
    path = ("PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION", "PHASE_TESTING", "PHASE_DEPLOYMENT")
    for n in range(4):  # Deploying's limit is 3: the fourth needs force
        ticket = tickets.create_ticket("demo", f"Release {n}")
        for phase in path:
            tickets.transition(ticket.id, phase, force=n == 3)
    page.set_viewport_size(VIEWPORT)
    page.reload()
    page.wait_for_selector("#board[data-loaded] .card")
    wip = page.locator("section.column[data-column-id='deploying'] .wip")
    assert wip.inner_text() == "4 / 3 (over limit)"
    assert "at limit" not in wip.inner_text()
    assert "wip-full" in page.locator("section.column[data-column-id='deploying']").get_attribute("class")
