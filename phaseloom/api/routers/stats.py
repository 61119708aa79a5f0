"""``/api/stats``: the phase table (throughput, durations, failure rate, queue, WIP), bottleneck and anomalies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from phaseloom.api.deps import Caller, Uow
from phaseloom.api.scoping import readable_project_ref
from phaseloom.services.baselines import BaselineService
from phaseloom.services.stats import StatsService

router = APIRouter(prefix="/api/stats", tags=["stats"])


@router.get("")
def phase_stats(uow: Uow, caller: Caller,
                project: Annotated[str | None, Query(max_length=200, description="project id or name")] = None,
                since: datetime | None = None) -> dict[str, Any]:
    """The phase table since ``since`` (default: the last day); anomaly detection runs first."""
    project = readable_project_ref(uow, caller, project)
    return StatsService(uow).phase_stats(project=project, since=since, detect_anomalies=True).as_dict()


@router.get("/baselines")
def baselines(uow: Uow, _caller: Caller) -> list[dict[str, Any]]:
    """The rolling baseline of every (agent type, phase)."""
    return [b.as_dict() for b in BaselineService(uow).baselines()]
