"""Pool pauses as the board and ``phaseloom run`` read them, on both databases: the latest event per pool decides."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from phaseloom.db.models import SystemEvent
from phaseloom.services.dashboard import DashboardService
from phaseloom.services.pool_pauses import PoolPause, PoolPauseService


def test_a_paused_pool_shows_until_its_reset_and_not_after_it_resumed(uow, project):
    now = datetime.now(timezone.utc)
    service = PoolPauseService(uow)
    service.paused("worker", now + timedelta(minutes=5), "rate limit", project_id=project.id, task_id=7,
                   runtime="command:codex")
    service.paused("validator", now + timedelta(minutes=5), "usage limit")   # a run of every project
    service.paused("other", now + timedelta(minutes=5), "rate limit", project_id=project.id + 1)

    [worker, validator] = sorted(service.current(project.id), key=lambda p: p.pool, reverse=True)
    assert (worker.pool, worker.reason, validator.reason) == ("worker", "rate limit", "usage limit")
    local = worker.until.astimezone().strftime("%H:%M")
    assert worker.label == f"paused until {local} (rate limit)"
    board = DashboardService(uow).board(project.id)
    assert [p["label"] for p in board["paused_pools"]] == [validator.label, worker.label]

    service.resumed("worker", project_id=project.id)
    assert [p.pool for p in service.current(project.id)] == ["validator"]
    assert [p.pool for p in service.current(project.id, now=now + timedelta(minutes=6))] == []
    with uow:
        [event] = uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "pool.paused",
                                                                SystemEvent.entity_id == "worker")).all()
        assert event.payload["task_id"] == 7 and event.payload["runtime"] == "command:codex"


def test_a_pause_under_a_minute_away_shows_its_seconds():
    until = datetime.now(timezone.utc) + timedelta(seconds=20)
    assert PoolPause("worker", until, "rate limit").label == \
        f"paused until {until.astimezone().strftime('%H:%M:%S')} (rate limit)"
