"""``/metrics``: Prometheus exposition, read from the database on every scrape.

A custom collector, not in-process counters: every ``serve`` instance over the same database
reports the same figures, and a restart loses nothing. Series carry a ``phase`` label wherever
the quantity belongs to a phase.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import Float, case, cast, func, select

from phaseloom.api.deps import Caller
from phaseloom.db.durations import task_duration
from phaseloom.db.engine import Database
from phaseloom.db.models import Agent, GateResult, Task, TaskDiscovery
from phaseloom.db.models.costs import CostRecord
from phaseloom.domain.tasks import ACTIVE_STATUSES
from phaseloom.db.unit_of_work import UnitOfWork

DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
_ACTIVE = [s.value for s in ACTIVE_STATUSES]


class DatabaseCollector:
    """Yields every phaseloom series from one read-only transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        with UnitOfWork(self.db, readonly=True) as uow:
            session = uow.session
            yield _gauge("phaseloom_tasks_queued", "Tasks waiting to be claimed.", ["phase", "priority"],
                         session.execute(select(Task.phase_id, Task.priority, func.count())
                                         .where(Task.status == "pending").group_by(Task.phase_id, Task.priority)))
            agent_type = func.coalesce(Agent.agent_type, "unknown")
            yield _counter("phaseloom_tasks_completed", "Tasks completed.", ["phase", "agent_type"],
                           session.execute(select(Task.phase_id, agent_type, func.count())
                                           .outerjoin(Agent, Agent.id == Task.assigned_agent_id)
                                           .where(Task.status == "completed").group_by(Task.phase_id, agent_type)))
            yield self._durations(uow)
            yield _gauge("phaseloom_agents_active", "Agents holding a claimed or running task.", ["type", "phase"],
                         session.execute(select(agent_type, Task.phase_id, func.count(func.distinct(Agent.id)))
                                         .join(Agent, Agent.id == Task.assigned_agent_id)
                                         .where(Task.status.in_(_ACTIVE)).group_by(agent_type, Task.phase_id)))
            outcome = case((GateResult.passed.is_(True), "passed"), else_="failed")
            yield _counter("phaseloom_gate_results", "Gate evaluations.", ["phase", "outcome"],
                           session.execute(select(GateResult.phase_id, outcome, func.count())
                                           .group_by(GateResult.phase_id, outcome)))
            yield _counter("phaseloom_cost", "Money spent on model calls.", ["phase", "model", "currency"],
                           session.execute(select(CostRecord.phase_id, CostRecord.model, CostRecord.currency,
                                                  func.sum(CostRecord.amount))
                                           .group_by(CostRecord.phase_id, CostRecord.model, CostRecord.currency)))
            yield _counter("phaseloom_discoveries", "Discoveries reported by agents.", ["type"],
                           session.execute(select(TaskDiscovery.discovery_type, func.count())
                                           .group_by(TaskDiscovery.discovery_type)))

    def _durations(self, uow: UnitOfWork) -> Metric:
        seconds = cast(task_duration(uow.backend), Float)
        # Cumulative bucket counts are computed by the database: no task rows cross the wire.
        columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
        query = (select(Task.phase_id, Task.task_type, func.count(), func.coalesce(func.sum(seconds), 0.0), *columns)
                 .where(Task.status == "completed", Task.completed_at.is_not(None),
                        func.coalesce(Task.started_at, Task.claimed_at).is_not(None))
                 .group_by(Task.phase_id, Task.task_type))
        family = HistogramMetricFamily("phaseloom_task_duration_seconds", "Time from start to completion of tasks.",
                                       labels=["phase", "task_type"])
        for phase_id, task_type, count, total, *cumulative in uow.session.execute(query):
            buckets = [(_bound(b), int(c or 0)) for b, c in zip(DURATION_BUCKETS, cumulative)]
            family.add_metric([phase_id, task_type], buckets + [("+Inf", int(count))], float(total or 0.0))
        return family


def _bound(value: float) -> str:
    return repr(float(value))


def _gauge(name: str, doc: str, labels: list[str], rows) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for *values, number in rows:
        family.add_metric([str(v) for v in values], float(number or 0))
    return family


def _counter(name: str, doc: str, labels: list[str], rows) -> Metric:
    totals: dict[tuple[str, ...], float] = defaultdict(float)
    for *values, number in rows:
        totals[tuple(str(v) for v in values)] += float(number or 0)
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, number in totals.items():
        family.add_metric(list(values), number)
    return family


router = APIRouter(tags=["metrics"])


# Out of the OpenAPI schema: it is Prometheus text, not part of the JSON API.
@router.get("/metrics", response_class=Response, include_in_schema=False)
def metrics(request: Request, _caller: Caller) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


def mount_metrics(app: FastAPI, db: Database) -> None:
    """Serve ``/metrics`` from a registry of this app's own (never the process-global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db))
    app.state.metrics_registry = registry
    app.include_router(router)
