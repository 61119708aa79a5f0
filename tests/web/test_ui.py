"""The web UI in a real browser (Chromium via Playwright) against a real server."""

from __future__ import annotations

import time

import httpx
import pytest

from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork

pytestmark = pytest.mark.slow  # a real browser and a real server per test


def column_of(page, ticket_id: int) -> str:
    return page.locator(f".card[data-ticket-id='{ticket_id}']").evaluate(
        "card => card.closest('section.column').dataset.columnId")


def test_board_shows_tickets_in_their_columns_with_wip(page, site):
    _server, demo, _db = site
    assert column_of(page, demo.testing_ticket) == "testing"
    assert column_of(page, demo.backlog_ticket) == "backlog"
    testing = page.locator("section.column[data-column-id='testing']")
    assert testing.locator(".wip").inner_text().startswith("1 / 5")
    card = page.locator(f".card[data-ticket-id='{demo.testing_ticket}']")
    assert "ana" in card.inner_text() and "HIGH" in card.inner_text()
    assert card.locator(".discoveries").inner_text() == "1"
    # The token handed over in the fragment is kept in sessionStorage and removed from the address.
    assert "#token" not in page.url
    assert page.evaluate("sessionStorage.getItem('phaseloom.token')").startswith("plt_admin_")


def test_dragging_a_card_moves_the_ticket_and_the_move_persists(page, site):
    _server, demo, db = site
    card = page.locator(f".card[data-ticket-id='{demo.backlog_ticket}']")
    card.drag_to(page.locator("section.column[data-column-id='analyzing']"))
    page.wait_for_selector(".notice.ok")
    assert TicketService(UnitOfWork(db)).get(demo.backlog_ticket).phase_id == "PHASE_REQUIREMENTS"
    page.reload()
    page.wait_for_selector("#board[data-loaded] .card")
    assert column_of(page, demo.backlog_ticket) == "analyzing"


def test_a_refused_move_snaps_back_and_says_why(page, site):
    _server, demo, db = site
    card = page.locator(f".card[data-ticket-id='{demo.testing_ticket}']")
    card.drag_to(page.locator("section.column[data-column-id='done']"))
    notice = page.locator(".notice.error")
    notice.wait_for()
    assert "cannot move from PHASE_TESTING" in notice.inner_text()
    assert "allowed" in notice.inner_text()
    assert column_of(page, demo.testing_ticket) == "testing"
    assert TicketService(UnitOfWork(db)).get(demo.testing_ticket).phase_id == "PHASE_TESTING"


def test_the_keyboard_move_control_moves_a_card(page, site):
    _server, demo, db = site
    page.select_option(f"#move-{demo.backlog_ticket}", "analyzing")
    page.locator(f"#move-{demo.backlog_ticket} + button").press("Enter")
    page.wait_for_selector(".notice.ok")
    assert TicketService(UnitOfWork(db)).get(demo.backlog_ticket).phase_id == "PHASE_REQUIREMENTS"


def test_graph_draws_phases_tasks_and_the_discovery_edge(page, site):
    server, demo, _db = site
    page.goto(f"{server.url}/graph?project=demo")
    page.wait_for_selector("#graph[data-loaded] .node")
    assert page.locator(".node").count() == 5
    titles = page.locator(".phase-title").all_text_contents()
    assert titles.index("Implementation") < titles.index("Testing")
    edge = page.locator(f".edge-discovery[data-source='task:{demo.running_task}'][data-target='task:{demo.spawned_task}']")
    assert edge.count() == 1
    assert page.locator(".edge-label").text_content() == "bug_found"
    # The discovery goes back a phase: its target is drawn left of its source.
    source_x = page.locator(f".node[data-task-id='{demo.running_task}']").bounding_box()["x"]
    target_x = page.locator(f".node[data-task-id='{demo.spawned_task}']").bounding_box()["x"]
    assert target_x < source_x
    page.click(f".node[data-task-id='{demo.running_task}']")
    assert page.locator("#detail-status").inner_text() == "claimed"


def test_a_task_completed_through_the_api_shows_up_live(page, site):
    server, demo, _db = site
    page.goto(f"{server.url}/graph?project=demo")
    page.wait_for_selector("#graph[data-loaded] .node")
    page.wait_for_selector("#live-status[data-state='live']")
    node = f".node[data-task-id='{demo.running_task}']"
    assert page.get_attribute(node, "data-status") == "claimed"
    response = httpx.post(f"{server.url}/api/tasks/{demo.running_task}/complete", json={"result": {"summary": "ok"}},
                          headers={"Authorization": f"Bearer {demo.admin_token}"})
    assert response.status_code == 200, response.text
    started = time.monotonic()
    page.wait_for_selector(f"{node}.status-completed", timeout=10000)
    assert time.monotonic() - started < 2.0


def test_a_new_task_appears_on_the_ticket_page_without_reload(page, site):
    server, demo, _db = site
    page.goto(f"{server.url}/ticket?id={demo.testing_ticket}")
    page.wait_for_selector("#ticket[data-loaded]")
    page.wait_for_selector("#live-status[data-state='live']")
    assert "bug_found" in page.locator("#h-discoveries + table").inner_text()
    response = httpx.post(f"{server.url}/api/tasks", json={"ticket_id": demo.testing_ticket,
                                                           "phase_id": "PHASE_TESTING", "title": "Retest on mobile"},
                          headers={"Authorization": f"Bearer {demo.admin_token}"})
    assert response.status_code == 201, response.text
    page.wait_for_selector("text=Retest on mobile", timeout=10000)


def test_workflow_and_agents_pages_render(page, site):
    server, demo, _db = site
    page.goto(f"{server.url}/workflow?project=demo")
    page.wait_for_selector("#phase-PHASE_IMPLEMENTATION")
    assert "Transitions" in page.locator("#workflow").inner_text()
    page.goto(f"{server.url}/agents")
    row = page.locator("#agents tr[data-agent-id='ana']")
    row.wait_for()
    assert f"#{demo.running_task} Test the login form" in row.inner_text()
    assert page.locator(".notice.error").is_hidden()


def test_the_ticket_page_says_which_task_a_waiting_task_waits_for(page, site):
    from phaseloom.queue import QueueService
    from phaseloom.services.agents import AgentService

    server, demo, db = site
    queue = QueueService(UnitOfWork(db))
    holder = queue.create_task(demo.testing_ticket, "PHASE_TESTING", "Fix auth", priority="CRITICAL",
                               paths=["src/auth/**"])
    waiting = queue.create_task(demo.testing_ticket, "PHASE_TESTING", "Fix login", paths=["src/auth/login.py"])
    agent = AgentService(UnitOfWork(db)).register_agent("paths-holder")
    claimed = queue.claim_next_task(agent.id)
    assert claimed is not None and claimed.id == holder.id
    page.goto(f"{server.url}/ticket?id={demo.testing_ticket}")
    page.wait_for_selector("#ticket[data-loaded]")
    shown = page.locator(f"[data-task-waits='{waiting.id}']").inner_text()
    assert f"waits for task {holder.id}: src/auth/**" in shown
