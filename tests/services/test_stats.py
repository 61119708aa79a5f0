from __future__ import annotations

import math

import pytest

from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.services.stats import PhaseStats, StatsService, bottleneck, percentile
from phaseloom.services.tickets import TicketService
from tests.services.finished_tasks import finish


@pytest.fixture
def scene(uow, project):
    tickets = TicketService(uow)
    ticket = tickets.create_ticket(project.id, "measured")
    tickets.transition(ticket.id, "PHASE_REQUIREMENTS")
    agent = AgentService(uow).register_agent("worker", phase_id="PHASE_REQUIREMENTS")
    for seconds in (10, 20, 30, 40):
        finish(uow, ticket.id, "PHASE_REQUIREMENTS", agent.id, seconds)
    finish(uow, ticket.id, "PHASE_REQUIREMENTS", agent.id, 50, retries=1)
    finish(uow, ticket.id, "PHASE_REQUIREMENTS", agent.id, 5, failed=True)
    finish(uow, ticket.id, "PHASE_REQUIREMENTS", agent.id, 10, ago=3 * 86400)  # outside the window
    queue = QueueService(uow)
    for n in range(5):
        queue.create_task(ticket.id, "PHASE_DESIGN", f"design {n}")
    running = queue.create_task(ticket.id, "PHASE_IMPLEMENTATION", "code")
    builder = AgentService(uow).register_agent("builder", phase_id="PHASE_IMPLEMENTATION")
    queue.claim_next_task(builder.id)
    return ticket, running


def test_phase_table_figures_match_the_tasks(uow, project, scene):
    report = StatsService(uow).phase_stats(project="demo")
    by_phase = {p.phase_id: p for p in report.phases}
    req = by_phase["PHASE_REQUIREMENTS"]
    assert req.completed == 5
    assert req.throughput_per_hour == pytest.approx(5 / 24, rel=1e-3)
    assert req.median_seconds == pytest.approx(30, abs=0.01)
    assert req.p90_seconds == pytest.approx(46, abs=0.01)
    assert req.failure_rate == pytest.approx(2 / 7)  # one retry and one final failure in seven attempts
    assert (req.queue_depth, req.wip_limit, req.tickets_in_column, req.wip_use) == (0, 5, 1, 0.2)
    assert by_phase["PHASE_DESIGN"].queue_depth == 5
    assert by_phase["PHASE_IMPLEMENTATION"].in_progress == 1
    assert report.bottleneck == "PHASE_DESIGN"
    assert "none finished" in report.bottleneck_reason
    ids = [p.phase_id for p in report.phases]
    assert ids.index("PHASE_REQUIREMENTS") < ids.index("PHASE_DESIGN") < ids.index("PHASE_IMPLEMENTATION")


def test_an_unknown_project_is_refused_and_all_projects_is_the_default(uow, project, scene):
    from phaseloom.domain.errors import NotFound

    with pytest.raises(NotFound):
        StatsService(uow).phase_stats(project="nope")
    everything = StatsService(uow).phase_stats()
    assert {p.phase_id: p.completed for p in everything.phases}["PHASE_REQUIREMENTS"] == 5


def test_bottleneck_prefers_a_full_wip_column_then_the_longest_wait():
    slow = PhaseStats("A", completed=1, queue_depth=10, window_hours=1)   # 10 h to drain
    fast = PhaseStats("B", completed=20, queue_depth=15, window_hours=1)  # 0.75 h
    assert bottleneck([slow, fast])[0] == "A"
    full = PhaseStats("C", completed=50, queue_depth=1, tickets_in_column=3, wip_limit=3, window_hours=1)
    assert bottleneck([slow, fast, full])[0] == "C"
    assert bottleneck([PhaseStats("D")]) == (None, "no tasks are waiting")
    assert percentile([1, 2, 3, 4], 50) == 2.5 and math.isclose(percentile([7], 90), 7)
