from __future__ import annotations

import sys

import pytest
from sqlalchemy import select

from phaseloom.config import ModelPrice, Settings
from phaseloom.db.models import SystemEvent
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.services.agents import AgentService
from phaseloom.services.budgets import BudgetService
from phaseloom.services.costs import CostService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork

# One million input tokens cost 1.0.
SETTINGS = Settings(pricing={"default": ModelPrice(input_per_million=1.0)})


def events(uow, *types: str) -> list[SystemEvent]:
    with uow:
        return list(uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type.in_(types))
                                        .order_by(SystemEvent.id)))


def spend(uow, task_id: int, amount: float, agent_id: str | None = None) -> None:
    CostService(uow, SETTINGS).record_usage(task_id, agent_id, "m", int(amount * 1_000_000), 0)


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "budgeted")


def test_warning_once_then_exceeded_stops_claims_and_a_raise_resumes(uow, project, ticket):
    queue = QueueService(uow)
    first = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "first")
    second = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "second")
    agent = AgentService(uow).register_agent("a")
    budget = BudgetService(uow).create("project", 10.0, project="demo")
    assert queue.claim_next_task(agent.id).id == first.id
    spend(uow, first.id, 8.5)
    spend(uow, first.id, 1.0)
    assert [e.event_type for e in events(uow, "cost.budget.warning", "cost.budget.exceeded")] == [
        "cost.budget.warning"]
    spend(uow, first.id, 0.5)  # reaches the limit exactly
    spend(uow, first.id, 0.5)
    assert [e.event_type for e in events(uow, "cost.budget.warning", "cost.budget.exceeded")] == [
        "cost.budget.warning", "cost.budget.exceeded"]
    exhausted = BudgetService(uow).get(budget.id)
    assert exhausted.exhausted and exhausted.spent == pytest.approx(10.5)

    assert queue.claim_next_task(agent.id) is None  # stopped in the project
    assert queue.complete_task(first.id, agent.id).status == "completed"  # running work may finish
    assert queue.get(second.id).status == "pending"

    raised = BudgetService(uow).update(budget.id, limit_amount=20.0)
    assert not raised.exhausted and not raised.warned
    assert events(uow, "cost.budget.resumed")[0].payload["limit"] == 20.0
    assert queue.claim_next_task(agent.id).id == second.id


@pytest.mark.parametrize("scope", ["ticket", "phase", "agent"])
def test_each_scope_stops_only_its_own_work(uow, project, ticket, scope):
    other_ticket = TicketService(uow).create_ticket(project.id, "other")
    queue = QueueService(uow)
    paid = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "paid")
    same_ticket_other_phase = queue.create_task(ticket.id, "PHASE_DESIGN", "design", priority="LOW")
    other = queue.create_task(other_ticket.id, "PHASE_DESIGN", "other", priority="LOW")
    agents = AgentService(uow)
    spender, bystander = agents.register_agent("spender"), agents.register_agent("bystander")
    keys = {"ticket": {"ticket_id": ticket.id}, "phase": {"phase_id": "PHASE_DESIGN", "project": project.id},
            "agent": {"agent_id": spender.id}}[scope]
    BudgetService(uow).create(scope, 1.0, **keys)
    spent_on = paid if scope != "phase" else same_ticket_other_phase
    spend(uow, spent_on.id, 1.0, agent_id=spender.id)

    claimable = {"ticket": {other.id}, "phase": {paid.id}, "agent": set()}[scope]
    got = {t.id for t in iter(lambda: queue.claim_next_task(spender.id), None)}
    assert got == claimable
    if scope == "agent":  # the agent is stopped, not the work: another agent takes it
        assert queue.claim_next_task(bystander.id) is not None


def test_a_new_budget_counts_what_was_spent_and_deleting_it_lifts_the_stop(uow, project, ticket):
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "t")
    agent = AgentService(uow).register_agent("a")
    spend(uow, task.id, 3.0)
    budget = BudgetService(uow).create("ticket", 2.0, ticket_id=ticket.id, alert_threshold=0.5)
    assert (budget.spent, budget.warned, budget.exhausted) == (pytest.approx(3.0), True, True)
    assert queue.claim_next_task(agent.id) is None
    BudgetService(uow).delete(budget.id)
    assert queue.claim_next_task(agent.id).id == task.id


def test_bad_budgets_are_refused(uow, project, ticket):
    budgets = BudgetService(uow)
    with pytest.raises(InvalidInput, match="scope"):
        budgets.create("galaxy", 1.0, project="demo")
    with pytest.raises(InvalidInput):
        budgets.create("project", -1.0, project="demo")
    with pytest.raises(InvalidInput, match="threshold"):
        budgets.create("project", 1.0, project="demo", alert_threshold=1.5)
    with pytest.raises(NotFound):
        budgets.create("agent", 1.0, agent_id="nobody")
    with pytest.raises(NotFound):
        budgets.update(424242, limit_amount=3)


@pytest.fixture
def priced(monkeypatch):
    from phaseloom.config import get_settings

    monkeypatch.setenv("PHASELOOM_PRICING", '{"default": {"input_per_million": 1.0}}')
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_workflow_out_of_budget_halts_with_tasks_pending_and_continues_after_a_raise(
        db, uow, project, priced, tmp_path):
    from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
    from phaseloom.runtimes.command import CommandRuntime

    ticket = TicketService(uow).create_ticket(project.id, "five paid steps")
    queue = QueueService(uow)
    ids = [queue.create_task(ticket.id, "PHASE_REQUIREMENTS", f"step {n}").id for n in range(5)]
    budget = BudgetService(uow).create("project", 2.5, project=project.id)
    program = tmp_path / "agent.py"  # each run costs 1.0
    program.write_text("import json\nprint(json.dumps({'phaseloom_usage': "
                       "{'model': 'm', 'input_tokens': 1000000, 'output_tokens': 0}}))\n")
    runtime = CommandRuntime([sys.executable, str(program)])
    config = OrchestratorConfig(pools=(PoolSpec("paid", size=1, runtime="command"),), manage_tickets=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs", poll_seconds=0.05)

    def statuses() -> list[str]:
        fresh = QueueService(UnitOfWork(db))
        return sorted(fresh.get(i).status for i in ids)

    Orchestrator(db, lambda spec: runtime, config).run(
        until=lambda: BudgetService(UnitOfWork(db)).get(budget.id).exhausted, max_seconds=20)
    Orchestrator(db, lambda spec: runtime, config).run(max_seconds=0.5)  # a stopped scope stays stopped
    assert statuses() == ["completed"] * 3 + ["pending"] * 2
    stopped = BudgetService(uow).get(budget.id)
    assert stopped.exhausted and stopped.spent == pytest.approx(3.0)
    assert len(events(uow, "cost.budget.exceeded")) == 1 and len(events(uow, "cost.budget.warning")) == 1

    BudgetService(uow).update(budget.id, limit_amount=100.0)
    Orchestrator(db, lambda spec: runtime, config).run(
        until=lambda: statuses() == ["completed"] * 5, max_seconds=20)
    assert statuses() == ["completed"] * 5
    assert BudgetService(uow).get(budget.id).spent == pytest.approx(5.0)
    assert sum(g.records for g in CostService(uow, Settings()).totals("project")) == 5


def test_concurrent_charges_lose_nothing_and_report_the_crossing_once(db, uow, project, ticket):
    from concurrent.futures import ThreadPoolExecutor

    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "busy")
    budget = BudgetService(uow).create("project", 10.0, project=project.id)

    def charge(_n: int) -> None:
        spend(UnitOfWork(db), task.id, 0.5)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(charge, range(40)))
    assert BudgetService(uow).get(budget.id).spent == pytest.approx(20.0)
    assert len(events(uow, "cost.budget.exceeded")) == 1 and len(events(uow, "cost.budget.warning")) == 1
