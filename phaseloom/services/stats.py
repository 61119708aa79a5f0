"""Phase statistics: throughput, durations, failure rate, queue depth and WIP use, and the bottleneck.

A task's duration runs from when its agent started it (or claimed it, if it never reported a
start) to when it finished. Figures cover tasks finished within the window; queue depth and
WIP use are as of now.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Float, case, cast, func, select

from phaseloom.db.models import BoardColumnRow, Project, Task, Ticket
from phaseloom.db.durations import task_duration
from phaseloom.db.models.base import utcnow
from phaseloom.domain.tasks import ACTIVE_STATUSES
from phaseloom.services.baselines import BaselineService
from phaseloom.services.budgets import project_id_of
from phaseloom.db.unit_of_work import UnitOfWork

DEFAULT_WINDOW = timedelta(days=1)
_ACTIVE = [s.value for s in ACTIVE_STATUSES]
_FINISHED = ("completed", "failed")


@dataclass
class PhaseStats:
    phase_id: str
    completed: int = 0
    failed_attempts: int = 0
    attempts: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None
    queue_depth: int = 0
    in_progress: int = 0
    tickets_in_column: int | None = None
    wip_limit: int | None = None
    window_hours: float = 24.0

    @property
    def throughput_per_hour(self) -> float:
        return self.completed / self.window_hours if self.window_hours else 0.0

    @property
    def failure_rate(self) -> float | None:
        return self.failed_attempts / self.attempts if self.attempts else None

    @property
    def wip_use(self) -> float | None:
        if not self.wip_limit or self.tickets_in_column is None:
            return None
        return self.tickets_in_column / self.wip_limit

    @property
    def expected_wait_hours(self) -> float:
        """How long the queue would take to drain at the window's pace (infinite when nothing finished)."""
        if not self.queue_depth:
            return 0.0
        return self.queue_depth / self.throughput_per_hour if self.throughput_per_hour else math.inf

    def as_dict(self) -> dict:
        return {"phase_id": self.phase_id, "completed": self.completed,
                "throughput_per_hour": round(self.throughput_per_hour, 4), "median_seconds": self.median_seconds,
                "p90_seconds": self.p90_seconds, "failure_rate": self.failure_rate, "queue_depth": self.queue_depth,
                "in_progress": self.in_progress, "wip_limit": self.wip_limit,
                "tickets_in_column": self.tickets_in_column, "wip_use": self.wip_use}


@dataclass
class StatsReport:
    since: datetime
    phases: list[PhaseStats]
    bottleneck: str | None
    bottleneck_reason: str
    anomalies: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"since": self.since.isoformat(), "phases": [p.as_dict() for p in self.phases],
                "bottleneck": self.bottleneck, "bottleneck_reason": self.bottleneck_reason,
                "anomalies": self.anomalies}


class StatsService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def phase_stats(self, *, project: int | str | None = None, since: datetime | None = None,
                    detect_anomalies: bool = False) -> StatsReport:
        """Per-phase figures for tasks finished since ``since`` (default: the last day), and the bottleneck.

        ``detect_anomalies`` first runs anomaly detection, so the report lists what it just found.
        """
        if detect_anomalies:
            BaselineService(self.uow).detect()
        now = utcnow()
        since = since or now - DEFAULT_WINDOW
        hours = max((now - since).total_seconds() / 3600, 1e-9)
        with self.uow:
            project_id = project_id_of(self.uow.session, project)
            stats: dict[str, PhaseStats] = {}

            def phase(phase_id: str) -> PhaseStats:
                return stats.setdefault(phase_id, PhaseStats(phase_id, window_hours=hours))

            self._finished(project_id, since, phase)
            self._durations(project_id, since, phase)
            self._current(project_id, phase)
            if project_id is not None:
                self._wip(project_id, phase)
            ordered = self._in_workflow_order(project_id, list(stats.values()))
        name, reason = bottleneck(ordered)
        anomalies = BaselineService(self.uow).recent_anomalies(project_id=project_id, since=since)
        return StatsReport(since, ordered, name, reason, anomalies)

    # -- queries -----------------------------------------------------------------
    def _scoped(self, query, project_id: int | None):
        return query.where(Task.project_id == project_id) if project_id is not None else query

    def _finished(self, project_id, since, phase) -> None:
        completed = func.sum(case((Task.status == "completed", 1), else_=0))
        failed = func.sum(case((Task.status == "failed", 1), else_=0))
        query = self._scoped(select(Task.phase_id, completed, failed, func.sum(Task.retry_count))
                             .where(Task.status.in_(_FINISHED), Task.completed_at >= since)
                             .group_by(Task.phase_id), project_id)
        for phase_id, done, gave_up, retries in self.uow.session.execute(query):
            stats = phase(phase_id)
            stats.completed = int(done or 0)
            # Every retry was a failed attempt, and so was the last attempt of a task that failed.
            stats.failed_attempts = int(gave_up or 0) + int(retries or 0)
            stats.attempts = stats.completed + stats.failed_attempts

    def _durations(self, project_id, since, phase) -> None:
        seconds = cast(task_duration(self.uow.backend), Float)
        query = self._scoped(select(Task.phase_id, seconds).where(
            Task.status == "completed", Task.completed_at >= since,
            func.coalesce(Task.started_at, Task.claimed_at).is_not(None)), project_id)
        by_phase: dict[str, list[float]] = {}
        for phase_id, value in self.uow.session.execute(query):
            by_phase.setdefault(phase_id, []).append(max(0.0, float(value)))
        for phase_id, values in by_phase.items():
            stats = phase(phase_id)
            stats.median_seconds = round(statistics.median(values), 3)
            stats.p90_seconds = round(percentile(values, 90), 3)

    def _current(self, project_id, phase) -> None:
        pending = func.sum(case((Task.status == "pending", 1), else_=0))
        active = func.sum(case((Task.status.in_(_ACTIVE), 1), else_=0))
        query = self._scoped(select(Task.phase_id, pending, active)
                             .where(Task.status.in_(["pending", *_ACTIVE])).group_by(Task.phase_id), project_id)
        for phase_id, waiting, working in self.uow.session.execute(query):
            stats = phase(phase_id)
            stats.queue_depth, stats.in_progress = int(waiting or 0), int(working or 0)

    def _wip(self, project_id: int, phase) -> None:
        session = self.uow.session
        workflow_id = session.get(Project, project_id).workflow_id
        tickets = dict(session.execute(select(Ticket.phase_id, func.count()).where(Ticket.project_id == project_id)
                                       .group_by(Ticket.phase_id)).all())
        for column in session.scalars(select(BoardColumnRow).where(BoardColumnRow.workflow_id == workflow_id)):
            in_column = sum(tickets.get(p, 0) for p in column.phase_mapping)
            for phase_id in column.phase_mapping:
                if column.wip_limit or phase_id in tickets:
                    stats = phase(phase_id)
                    stats.wip_limit, stats.tickets_in_column = column.wip_limit, in_column

    def _in_workflow_order(self, project_id: int | None, phases: list[PhaseStats]) -> list[PhaseStats]:
        from phaseloom.db.models import PhaseRow

        order_query = select(PhaseRow.id, func.min(PhaseRow.sequence_order)).group_by(PhaseRow.id)
        if project_id is not None:
            workflow_id = self.uow.session.get(Project, project_id).workflow_id
            order_query = order_query.where(PhaseRow.workflow_id == workflow_id)
        order = dict(self.uow.session.execute(order_query).all())
        return sorted(phases, key=lambda p: (order.get(p.phase_id, 10**6), p.phase_id))


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (as numpy's default) of a non-empty list."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def bottleneck(phases: list[PhaseStats]) -> tuple[str | None, str]:
    """The phase work piles up in: a full WIP column first, then the longest expected queue wait."""
    full = [p for p in phases if p.wip_use is not None and p.wip_use >= 1 and p.queue_depth]
    if full:
        worst = max(full, key=lambda p: (p.queue_depth, p.wip_use))
        return worst.phase_id, f"its column is at its WIP limit with {worst.queue_depth} tasks queued"
    queued = [p for p in phases if p.queue_depth]
    if not queued:
        return None, "no tasks are waiting"
    worst = max(queued, key=lambda p: (p.expected_wait_hours, p.queue_depth, p.median_seconds or 0))
    if math.isinf(worst.expected_wait_hours):
        return worst.phase_id, f"{worst.queue_depth} tasks queued and none finished in the window"
    return worst.phase_id, (f"{worst.queue_depth} tasks queued, about {worst.expected_wait_hours:.1f} h "
                            "to drain at the window's pace")
