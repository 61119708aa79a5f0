from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from phaseloom.config import ModelPrice, Settings
from phaseloom.db.models import SystemEvent
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.costs import CostRecord
from phaseloom.domain.costs import UsageReport, parse_usage_lines, price_of
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.services.agents import AgentService
from phaseloom.services.costs import CostService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService

PRICING = {"default": ModelPrice(input_per_million=1.0, output_per_million=2.0),
           "big": ModelPrice(input_per_million=10.0, output_per_million=30.0)}


@pytest.fixture
def settings() -> Settings:
    return Settings(pricing=PRICING, currency="EUR")


@pytest.fixture
def tasks(uow, project):
    tickets = TicketService(uow)
    first, second = tickets.create_ticket(project.id, "one"), tickets.create_ticket(project.id, "two")
    queue = QueueService(uow)
    return (queue.create_task(first.id, "PHASE_REQUIREMENTS", "req"),
            queue.create_task(first.id, "PHASE_DESIGN", "design"),
            queue.create_task(second.id, "PHASE_DESIGN", "design 2"))


def test_usage_is_priced_from_the_pricing_table_with_a_default(uow, settings, tasks):
    AgentService(uow).register_agent("a1")
    costs = CostService(uow, settings)
    big = costs.record_usage(tasks[0].id, "a1", "big", 1_000_000, 100_000)
    other = costs.record_usage(tasks[0].id, "a1", "unlisted", 500_000, 250_000)
    assert big.amount == pytest.approx(10.0 + 3.0)
    assert other.amount == pytest.approx(0.5 + 0.5)
    assert (big.phase_id, big.ticket_id, big.project_id, big.currency) == (
        "PHASE_REQUIREMENTS", tasks[0].ticket_id, tasks[0].project_id, "EUR")
    with uow:
        events = uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "cost.recorded")).all()
    assert [e.payload["model"] for e in events] == ["big", "unlisted"]


def test_totals_group_by_every_dimension_within_a_window(uow, settings, tasks):
    agents = AgentService(uow)
    agents.register_agent("a1")
    agents.register_agent("a2")
    costs = CostService(uow, settings)
    costs.record_usage(tasks[0].id, "a1", "big", 100_000, 0)       # 1.0
    costs.record_usage(tasks[1].id, "a2", "small", 1_000_000, 0)   # 1.0 (default price)
    costs.record_usage(tasks[2].id, "a2", "big", 200_000, 0)       # 2.0
    old = costs.record_usage(tasks[2].id, "a1", "big", 1_000_000, 0)  # 10.0, moved into the past
    with uow:
        uow.session.execute(update(CostRecord).where(CostRecord.id == old.id)
                            .values(created_at=utcnow() - timedelta(days=10)))
    by_phase = {g.key: g.amount for g in costs.totals("phase")}
    assert by_phase == pytest.approx({"PHASE_DESIGN": 13.0, "PHASE_REQUIREMENTS": 1.0})
    recent = {g.key: g.amount for g in costs.totals("phase", since=utcnow() - timedelta(days=1))}
    assert recent == pytest.approx({"PHASE_DESIGN": 3.0, "PHASE_REQUIREMENTS": 1.0})
    assert {g.key: g.amount for g in costs.totals("model")} == pytest.approx({"big": 13.0, "small": 1.0})
    assert {g.key: g.records for g in costs.totals("agent")} == {"a1": 2, "a2": 2}
    assert {g.key: g.amount for g in costs.totals("ticket")} == pytest.approx(
        {str(tasks[0].ticket_id): 2.0, str(tasks[2].ticket_id): 12.0})
    (project,) = costs.totals("project")
    assert (project.amount, project.input_tokens, project.currency) == (pytest.approx(14.0), 2_300_000, "EUR")
    assert costs.totals("phase")[0].key == "PHASE_DESIGN"  # most expensive first


def test_bad_usage_and_grouping_are_refused(uow, settings, tasks):
    costs = CostService(uow, settings)
    with pytest.raises(InvalidInput):
        costs.record_usage(tasks[0].id, None, "big", -1, 0)
    with pytest.raises(NotFound):
        costs.record_usage(999_999, None, "big", 1, 0)
    with pytest.raises(InvalidInput, match="group"):
        costs.totals("colour")


def test_usage_lines_parse_only_the_documented_shape():
    text = "\n".join([
        "working...",
        '{"phaseloom_usage": {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 350}}',
        '{"phaseloom_usage": {"model": "x", "input_tokens": "lots"}}',
        '{"other": 1}',
        '  {"phaseloom_usage": {"model": "m2", "input_tokens": 5}}  ',
        '{"phaseloom_usage": {"input_tokens": 5}}',
    ])
    assert parse_usage_lines(text) == [UsageReport("gpt-4o", 1200, 350), UsageReport("m2", 5, 0)]
    assert price_of("nope", 1_000_000, 0, {}) == 0.0


# -- the runtimes' hooks ------------------------------------------------------------
from tests.runtimes.conftest import claimed, make_assignment  # noqa: E402,F401 - fixtures
from tests.runtimes.test_openai import model_server, reply, runtime_for, tool_call  # noqa: E402,F401


@pytest.fixture
def priced(monkeypatch):
    """Process settings with a price: runtimes price usage with the configured pricing table."""
    from phaseloom.config import get_settings

    monkeypatch.setenv("PHASELOOM_PRICING", '{"default": {"input_per_million": 1.0, "output_per_million": 2.0}}')
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_command_runtime_records_the_usage_lines_its_agent_prints(uow, claimed, priced, tmp_path):
    import sys

    from phaseloom.runtimes.base import settle
    from phaseloom.runtimes.command import CommandRuntime

    task, agent = claimed
    (tmp_path / "wt").mkdir()
    script = ("import json\nprint('thinking')\n"
              "print(json.dumps({'phaseloom_usage': {'model': 'm1', 'input_tokens': 1000000, 'output_tokens': 0}}))\n"
              "print(json.dumps({'phaseloom_usage': {'model': 'm2', 'input_tokens': 0, 'output_tokens': 500000}}))\n")
    assignment = make_assignment(task, agent, tmp_path / "wt")
    assignment.log_path.parent.mkdir(parents=True)
    assignment.log_path.write_text('{"phaseloom_usage": {"model": "old-attempt", "input_tokens": 9}}\n')
    agent_program = tmp_path / "agent.py"  # a file: braces in an argv template are placeholders
    agent_program.write_text(script)
    outcome = settle(uow, assignment, CommandRuntime([sys.executable, str(agent_program)]).run(assignment), Settings())
    assert outcome.final_status == "completed"
    records = CostService(uow, Settings()).records(task.id)
    assert [(r.model, r.amount, r.agent_id, r.source) for r in records] == [
        ("m1", 1.0, agent.id, "agent_output"), ("m2", 1.0, agent.id, "agent_output")]


def test_openai_runtime_records_each_response_usage(uow, db, claimed, priced, model_server, tmp_path):
    from phaseloom.runtimes.base import settle

    task, agent = claimed
    (tmp_path / "wt").mkdir()
    model_server.replies = [reply(content="hm", prompt=1_000_000, completion=0),
                            reply(tool_call("c1", "complete_task", result="done"), prompt=0, completion=1_000_000)]
    assignment = make_assignment(task, agent, tmp_path / "wt")
    outcome = settle(uow, assignment, runtime_for(db, model_server).run(assignment), Settings())
    assert outcome.final_status == "completed"
    records = CostService(uow, Settings()).records(task.id)
    assert [(r.model, r.input_tokens, r.output_tokens, r.amount) for r in records] == [
        ("tiny", 1_000_000, 0, 1.0), ("tiny", 0, 1_000_000, 2.0)]


# -- the MCP tool ---------------------------------------------------------------------
from tests.mcp.conftest import mcp_http, scene  # noqa: E402,F401 - fixtures


def test_report_usage_tool_records_a_cost_on_the_agents_task(priced, mcp_http, scene, uow):
    import asyncio

    from tests.mcp.test_http import client_for

    async def session():
        async with client_for(mcp_http.url, scene.token) as client:
            await client.call_tool("get_my_task", {})
            ok = await client.call_tool("report_usage", {"model": "m", "input_tokens": 2_000_000,
                                                         "output_tokens": 0})
            bad = await client.call_tool("report_usage", {"model": "m", "input_tokens": 1, "output_tokens": 0,
                                                          "task_id": scene.other_task_id})
            return ok, bad

    ok, bad = asyncio.run(session())
    assert not ok.is_error and ok.structured_content["amount"] == 2.0
    assert bad.is_error and "not assigned" in " ".join(c.text for c in bad.content)
    (record,) = CostService(uow, Settings()).records(scene.task_id)
    assert (record.agent_id, record.source, record.amount) == (scene.agent_id, "mcp", 2.0)
