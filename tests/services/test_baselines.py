from __future__ import annotations

import pytest
from sqlalchemy import select

from phaseloom.config import ModelPrice, Settings
from phaseloom.db.models import SystemEvent
from phaseloom.domain.resources import ResourceUsage
from phaseloom.services.agents import AgentService
from phaseloom.services.baselines import BaselineService
from phaseloom.services.costs import CostService
from phaseloom.services.stats import StatsService
from phaseloom.services.tickets import TicketService
from tests.services.finished_tasks import finish

SETTINGS = Settings(pricing={"default": ModelPrice(input_per_million=1.0)})
NORMAL = [100, 104, 96, 101, 99, 103, 97, 102, 98, 100, 105, 95]


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "observed")


def anomaly_events(uow) -> list[SystemEvent]:
    with uow:
        return list(uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "anomaly.detected")))


def test_slow_and_expensive_tasks_are_flagged_once(uow, ticket):
    agent = AgentService(uow).register_agent("w", phase_id="PHASE_DESIGN")
    costs = CostService(uow, SETTINGS)
    for n, seconds in enumerate(NORMAL):
        task = finish(uow, ticket.id, "PHASE_DESIGN", agent.id, seconds)
        costs.record_usage(task.id, agent.id, "m", 1_000_000 + n * 10_000, 0)
    slow = finish(uow, ticket.id, "PHASE_DESIGN", agent.id, 400)
    costs.record_usage(slow.id, agent.id, "m", 1_050_000, 0)
    pricey = finish(uow, ticket.id, "PHASE_DESIGN", agent.id, 101)
    costs.record_usage(pricey.id, agent.id, "m", 9_000_000, 0)

    found = BaselineService(uow).detect()
    assert {(a.task_id, a.metric) for a in found} == {(slow.id, "duration"), (pricey.id, "cost")}
    duration = next(a for a in found if a.metric == "duration")
    assert duration.baseline_mean == pytest.approx((sum(NORMAL) + 101) / 13)
    assert duration.sample_size == 13 and duration.agent_type == "worker"
    assert BaselineService(uow).detect() == []  # stored: not raised twice
    assert sorted(e.payload["metric"] for e in anomaly_events(uow)) == ["cost", "duration"]

    (baseline,) = BaselineService(uow).baselines()
    assert (baseline.agent_type, baseline.phase_id, baseline.tasks, baseline.error_rate) == (
        "worker", "PHASE_DESIGN", 14, 0.0)
    report = StatsService(uow).phase_stats(project="demo")
    assert {(a["task_id"], a["metric"]) for a in report.anomalies} == {(slow.id, "duration"), (pricey.id, "cost")}


def test_nothing_is_flagged_below_the_minimum_sample(uow, ticket):
    agent = AgentService(uow).register_agent("w", phase_id="PHASE_DESIGN")
    for seconds in NORMAL[:5] + [10_000]:
        finish(uow, ticket.id, "PHASE_DESIGN", agent.id, seconds)
    assert BaselineService(uow).detect() == []


def test_an_agent_failing_far_more_than_its_peers_is_flagged(uow, ticket):
    agents = AgentService(uow)
    good = agents.register_agent("good", phase_id="PHASE_TESTING")
    bad = agents.register_agent("bad", phase_id="PHASE_TESTING")
    for seconds in NORMAL:
        finish(uow, ticket.id, "PHASE_TESTING", good.id, seconds)
    for n in range(10):
        last = finish(uow, ticket.id, "PHASE_TESTING", bad.id, 100, failed=n % 5 != 0, ago=30 - n)
    found = StatsService(uow).phase_stats(detect_anomalies=True).anomalies
    assert [(a["metric"], a["task_id"], a["value"]) for a in found] == [("error_rate", last.id, 0.8)]


CPU = [2.0, 2.1, 1.9, 2.05, 1.95, 2.02, 1.98, 2.1, 1.9, 2.0, 2.03, 1.97]
MEMORY = [100_000, 101_000, 99_000, 100_500, 99_500, 100_200, 99_800, 101_000, 99_000, 100_000, 100_300, 99_700]


def test_cpu_and_memory_outliers_of_measured_runs_are_flagged(uow, ticket):
    agent = AgentService(uow).register_agent("w", phase_id="PHASE_IMPLEMENTATION")
    baselines = BaselineService(uow)
    for seconds, cpu, kib in zip(NORMAL, CPU, MEMORY):
        task = finish(uow, ticket.id, "PHASE_IMPLEMENTATION", agent.id, seconds)
        baselines.record_resources(task.id, agent.id, 1, ResourceUsage(cpu, kib))
    busy = finish(uow, ticket.id, "PHASE_IMPLEMENTATION", agent.id, 101)
    baselines.record_resources(busy.id, agent.id, 1, ResourceUsage(40.0, 999_999))  # an earlier attempt's
    baselines.record_resources(busy.id, agent.id, 2, ResourceUsage(20.0, 100_100))  # the run that finished it
    bloated = finish(uow, ticket.id, "PHASE_IMPLEMENTATION", agent.id, 99)
    baselines.record_resources(bloated.id, agent.id, 1, ResourceUsage(2.0, 900_000))
    unmeasured = finish(uow, ticket.id, "PHASE_IMPLEMENTATION", agent.id, 100)
    baselines.record_resources(unmeasured.id, agent.id, 1, ResourceUsage.unmeasured("no os.wait4"))

    found = BaselineService(uow).detect()
    assert {(a.task_id, a.metric) for a in found} == {(busy.id, "cpu_seconds"), (bloated.id, "peak_memory_kib")}
    cpu = next(a for a in found if a.metric == "cpu_seconds")
    assert cpu.value == 20.0 and cpu.sample_size == 13  # the other measured runs; the unmeasured one is not 0
    assert cpu.baseline_mean == pytest.approx((sum(CPU) + 2.0) / 13)
    events = {e.payload["metric"]: e.payload for e in anomaly_events(uow)}
    assert set(events) == {"cpu_seconds", "peak_memory_kib"} and events["peak_memory_kib"]["value"] == 900_000
    assert BaselineService(uow).detect() == []

    (baseline,) = BaselineService(uow).baselines()
    assert (baseline.tasks, baseline.measured_runs) == (15, 14)
    assert baseline.mean_cpu_seconds == pytest.approx((sum(CPU) + 20.0 + 2.0) / 14)
    assert baseline.mean_peak_memory_kib == pytest.approx((sum(MEMORY) + 100_100 + 900_000) / 14)
    report = StatsService(uow).phase_stats(project="demo")
    assert {(a["task_id"], a["metric"]) for a in report.anomalies} == {
        (busy.id, "cpu_seconds"), (bloated.id, "peak_memory_kib")}


def test_cpu_and_memory_need_the_minimum_sample_of_measured_runs(uow, ticket):
    agent = AgentService(uow).register_agent("w", phase_id="PHASE_IMPLEMENTATION")
    baselines = BaselineService(uow)
    for n, seconds in enumerate(NORMAL):  # twelve tasks, but only five runs measured
        task = finish(uow, ticket.id, "PHASE_IMPLEMENTATION", agent.id, seconds)
        if n < 5:
            baselines.record_resources(task.id, agent.id, 1, ResourceUsage(CPU[n], MEMORY[n]))
    busy = finish(uow, ticket.id, "PHASE_IMPLEMENTATION", agent.id, 100)
    baselines.record_resources(busy.id, agent.id, 1, ResourceUsage(200.0, 9_000_000))
    assert BaselineService(uow).detect() == []
