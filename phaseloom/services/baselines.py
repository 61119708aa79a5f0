"""Rolling baselines per (agent type, phase), and the anomalies that stray from them.

For each (agent type, phase) the baseline is the last ``window`` finished tasks: their duration,
their cost, the CPU time and peak memory of their latest run where the runtime measured them (the
``command`` runtime does, see :class:`~phaseloom.db.models.resources.RunResources`), and their
agents' error rate. A task whose duration, cost, CPU time or peak memory lies more than ``sigmas``
standard deviations from the mean of the *other* tasks of its baseline (so an outlier cannot hide
itself by inflating the spread), with at least ``min_sample`` of them, raises an
``anomaly.detected`` event. So does an agent whose recent failure rate is that far above its
peers' (binomial spread), recorded against its latest task. Each anomaly is stored, keyed by
(task, metric), so detection can run as often as wanted and still raises it once.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Float, cast, func, select
from sqlalchemy.exc import IntegrityError

from phaseloom.db.durations import task_duration
from phaseloom.db.models import Agent, Task
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.costs import Anomaly, CostRecord
from phaseloom.db.models.resources import RunResources
from phaseloom.domain.resources import ResourceUsage
from phaseloom.db.unit_of_work import UnitOfWork

LOOKBACK = timedelta(days=30)


@dataclass(frozen=True)
class FinishedTask:
    id: int
    project_id: int
    phase_id: str
    agent_type: str
    agent_id: str | None
    failed: bool
    duration: float | None
    cost: float
    cpu_seconds: float | None = None  # None: not measured (no process, or not measurable there)
    peak_memory_kib: float | None = None


@dataclass(frozen=True)
class Baseline:
    """Means and spreads over the group's tasks; duration, CPU and memory over completed ones only."""

    agent_type: str
    phase_id: str
    tasks: int
    mean_duration: float | None
    stddev_duration: float | None
    error_rate: float
    mean_cost: float
    stddev_cost: float
    measured_runs: int = 0  # completed tasks whose CPU time was measured
    mean_cpu_seconds: float | None = None
    stddev_cpu_seconds: float | None = None
    mean_peak_memory_kib: float | None = None
    stddev_peak_memory_kib: float | None = None

    def as_dict(self) -> dict:
        return self.__dict__.copy()


class BaselineService:
    def __init__(self, uow: UnitOfWork, *, window: int = 200, min_sample: int = 10, sigmas: float = 3.0) -> None:
        self.uow = uow
        self.window = window
        self.min_sample = min_sample
        self.sigmas = sigmas

    def baselines(self) -> list[Baseline]:
        """The current baseline of every (agent type, phase) with finished tasks."""
        with self.uow:
            groups = self._groups()
        out = []
        for (agent_type, phase_id), tasks in sorted(groups.items()):
            completed = [t for t in tasks if not t.failed]
            d_mean, d_std = _mean_std([t.duration for t in completed])
            c_mean, c_std = _mean_std([t.cost for t in tasks])
            cpu_mean, cpu_std = _mean_std([t.cpu_seconds for t in completed])
            mem_mean, mem_std = _mean_std([t.peak_memory_kib for t in completed])
            out.append(Baseline(agent_type, phase_id, len(tasks), d_mean, d_std,
                                sum(t.failed for t in tasks) / len(tasks), c_mean or 0.0, c_std or 0.0,
                                sum(t.cpu_seconds is not None for t in completed), cpu_mean, cpu_std,
                                mem_mean, mem_std))
        return out

    def detect(self) -> list[Anomaly]:
        """Store and announce every anomaly not raised before; returns the new ones."""
        with self.uow:
            found: list[Anomaly] = []
            for tasks in self._groups().values():
                found += self._outliers(tasks, "duration", lambda t: None if t.failed else t.duration)
                found += self._outliers(tasks, "cost", lambda t: t.cost)
                # A failed run's CPU and memory say how it failed, not what the work takes.
                found += self._outliers(tasks, "cpu_seconds", lambda t: None if t.failed else t.cpu_seconds)
                found += self._outliers(tasks, "peak_memory_kib", lambda t: None if t.failed else t.peak_memory_kib)
                found += self._error_rates(tasks)
            return [a for a in found if self._store(a)]

    def record_resources(self, task_id: int, agent_id: str, attempt: int, usage: ResourceUsage) -> RunResources:
        """Store what one run of the task's agent used (figures it could not measure stay None)."""
        with self.uow:
            row = RunResources(task_id=task_id, agent_id=agent_id, attempt=attempt, cpu_seconds=usage.cpu_seconds,
                               peak_memory_kib=usage.peak_memory_kib,
                               unmeasured_reason=usage.unmeasured_reason[:300], created_at=utcnow())
            self.uow.session.add(row)
            self.uow.session.flush()
            return row

    def recent_anomalies(self, *, project_id: int | None = None, since: datetime | None = None,
                         limit: int = 50) -> list[dict]:
        with self.uow:
            query = select(Anomaly).order_by(Anomaly.id.desc()).limit(limit)
            if project_id is not None:
                query = query.where(Anomaly.project_id == project_id)
            if since is not None:
                query = query.where(Anomaly.created_at >= since)
            return [anomaly_view(a) for a in self.uow.session.scalars(query)]

    # -- internals ---------------------------------------------------------------
    def _groups(self) -> dict[tuple[str, str], list[FinishedTask]]:
        session = self.uow.session
        cost = (select(CostRecord.task_id, func.sum(CostRecord.amount).label("amount"))
                .group_by(CostRecord.task_id).subquery())
        # The latest run of each task is the one that finished it.
        latest_run = (select(RunResources.task_id, func.max(RunResources.id).label("id"))
                      .group_by(RunResources.task_id).subquery())
        query = (select(Task.id, Task.project_id, Task.phase_id, func.coalesce(Agent.agent_type, "unknown"),
                        Task.assigned_agent_id, Task.status, cast(task_duration(self.uow.backend), Float),
                        func.coalesce(cost.c.amount, 0.0), RunResources.cpu_seconds, RunResources.peak_memory_kib)
                 .outerjoin(Agent, Agent.id == Task.assigned_agent_id)
                 .outerjoin(cost, cost.c.task_id == Task.id)
                 .outerjoin(latest_run, latest_run.c.task_id == Task.id)
                 .outerjoin(RunResources, RunResources.id == latest_run.c.id)
                 .where(Task.status.in_(("completed", "failed")), Task.completed_at >= utcnow() - LOOKBACK)
                 .order_by(Task.completed_at.desc(), Task.id.desc()))
        groups: dict[tuple[str, str], list[FinishedTask]] = defaultdict(list)
        for row in session.execute(query):
            task = FinishedTask(row[0], row[1], row[2], row[3], row[4], row[5] == "failed",
                                None if row[6] is None else max(0.0, float(row[6])), float(row[7] or 0.0),
                                _float_or_none(row[8]), _float_or_none(row[9]))
            group = groups[(task.agent_type, task.phase_id)]
            if len(group) < self.window:
                group.append(task)
        return groups

    def _outliers(self, tasks: list[FinishedTask], metric: str, value_of) -> list[Anomaly]:
        values = [(t, value_of(t)) for t in tasks]
        values = [(t, float(v)) for t, v in values if v is not None]
        n = len(values)
        if n - 1 < self.min_sample:
            return []
        total, squares = sum(v for _, v in values), sum(v * v for _, v in values)
        found = []
        for task, value in values:
            # The baseline of the others: leave the task itself out.
            mean = (total - value) / (n - 1)
            variance = max(0.0, (squares - value * value) / (n - 1) - mean * mean)
            std = math.sqrt(variance)
            if _off(value, mean, std, self.sigmas):
                found.append(_anomaly(task, metric, value, mean, std, n - 1))
        return found

    def _error_rates(self, tasks: list[FinishedTask]) -> list[Anomaly]:
        if len(tasks) < self.min_sample:
            return []
        by_agent: dict[str, list[FinishedTask]] = defaultdict(list)
        for task in tasks:
            if task.agent_id:
                by_agent[task.agent_id].append(task)
        found = []
        for agent_tasks in by_agent.values():
            others = [t for t in tasks if t.agent_id != agent_tasks[0].agent_id]
            if len(agent_tasks) < self.min_sample or len(others) < self.min_sample:
                continue
            rate = sum(t.failed for t in agent_tasks) / len(agent_tasks)
            base = sum(t.failed for t in others) / len(others)
            # The spread of a rate over this many tasks; a floor of one failure keeps a
            # flawless baseline from calling any single failure infinitely unlikely.
            p = min(max(base, 1 / len(others)), 1 - 1 / len(others))
            std = math.sqrt(p * (1 - p) / len(agent_tasks))
            # One-sided: an agent failing less often than its peers is no cause for alarm.
            if rate > base and _off(rate, base, std, self.sigmas):
                found.append(_anomaly(agent_tasks[0], "error_rate", rate, base, std, len(others)))
        return found

    def _store(self, anomaly: Anomaly) -> bool:
        session = self.uow.session
        exists = session.scalar(select(Anomaly.id).where(Anomaly.task_id == anomaly.task_id,
                                                         Anomaly.metric == anomaly.metric))
        if exists is not None:
            return False
        try:
            with session.begin_nested():  # another detector may store the same one concurrently
                session.add(anomaly)
        except IntegrityError:
            return False
        self.uow.emit("anomaly.detected", "task", anomaly.task_id, project_id=anomaly.project_id,
                      phase_id=anomaly.phase_id, payload=anomaly_view(anomaly))
        return True


def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    """Mean and population spread of the known values; (None, None) when none is known."""
    known = [v for v in values if v is not None]
    if not known:
        return None, None
    mean = sum(known) / len(known)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in known) / len(known))


def _float_or_none(value) -> float | None:
    return None if value is None else float(value)


def _off(value: float, mean: float, std: float, sigmas: float) -> bool:
    if std > 0:
        return abs(value - mean) > sigmas * std
    # No spread at all: anything different is off the baseline, but only by a real margin.
    return abs(value - mean) > max(1e-9, abs(mean) * 0.5)


def _anomaly(task: FinishedTask, metric: str, value: float, mean: float, std: float, sample: int) -> Anomaly:
    return Anomaly(task_id=task.id, project_id=task.project_id, phase_id=task.phase_id, agent_type=task.agent_type,
                   metric=metric, value=value, baseline_mean=mean, baseline_stddev=std, sample_size=sample,
                   created_at=utcnow())


def anomaly_view(anomaly: Anomaly) -> dict:
    sigmas = (abs(anomaly.value - anomaly.baseline_mean) / anomaly.baseline_stddev
              if anomaly.baseline_stddev else None)
    return {"task_id": anomaly.task_id, "phase_id": anomaly.phase_id, "agent_type": anomaly.agent_type,
            "metric": anomaly.metric, "value": round(anomaly.value, 6),
            "baseline_mean": round(anomaly.baseline_mean, 6),
            "baseline_stddev": round(anomaly.baseline_stddev, 6),
            "sigmas": None if sigmas is None else round(sigmas, 2), "sample_size": anomaly.sample_size,
            "created_at": anomaly.created_at.isoformat() if anomaly.created_at else None}
