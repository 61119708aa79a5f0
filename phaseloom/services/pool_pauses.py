"""A pool's pause after a rate or usage limit, recorded as events so every page and process sees it.

The orchestrator that ran into the limit holds the pause itself (it stops claiming for that pool);
``pool.paused`` and ``pool.resumed`` events tell the board, ``phaseloom run``'s display and any
webhook or WebSocket listener: "paused until 14:05 (rate limit)".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import or_, select

from phaseloom.db.models import SystemEvent
from phaseloom.db.unit_of_work import UnitOfWork

PAUSED, RESUMED = "pool.paused", "pool.resumed"
RECENT_POOL_EVENTS = 200  # how far back the board looks for a pool's latest pause or resume


@dataclass(frozen=True)
class PoolPause:
    pool: str
    until: datetime
    reason: str

    @property
    def label(self) -> str:
        """``paused until 14:05 (rate limit)``, in this machine's local time (seconds when under a minute away)."""
        local = self.until.astimezone()
        soon = (self.until - datetime.now(timezone.utc)).total_seconds() < 60
        return f"paused until {local.strftime('%H:%M:%S' if soon else '%H:%M')} ({self.reason})"

    def as_json(self) -> dict:
        return {"pool": self.pool, "until": self.until.isoformat(), "reason": self.reason, "label": self.label}


class PoolPauseService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def paused(self, pool: str, until: datetime, reason: str, *, project_id: int | None = None,
               task_id: int | None = None, runtime: str = "") -> PoolPause:
        pause = PoolPause(pool, until, reason)
        with self.uow:
            self.uow.emit(PAUSED, "pool", pool, project_id=project_id,
                          payload={"until": until.isoformat(), "reason": reason, "task_id": task_id,
                                   "runtime": runtime, "label": pause.label})
        return pause

    def resumed(self, pool: str, *, project_id: int | None = None) -> None:
        with self.uow:
            self.uow.emit(RESUMED, "pool", pool, project_id=project_id, payload={})

    def current(self, project_id: int | None = None, *, now: datetime | None = None) -> list[PoolPause]:
        """Pools paused now (their latest event is a pause not yet over), for ``project_id`` and for runs of
        every project; every pool when ``project_id`` is None."""
        now = now or datetime.now(timezone.utc)
        query = (select(SystemEvent).where(SystemEvent.entity_type == "pool")
                 .order_by(SystemEvent.id.desc()).limit(RECENT_POOL_EVENTS))
        if project_id is not None:
            query = query.where(or_(SystemEvent.project_id == project_id, SystemEvent.project_id.is_(None)))
        latest: dict[str, SystemEvent] = {}
        with self.uow:
            for event in self.uow.session.scalars(query):
                latest.setdefault(event.entity_id, event)
        pauses = []
        for pool, event in sorted(latest.items()):
            if event.event_type != PAUSED:
                continue
            until = datetime.fromisoformat(event.payload["until"])
            if until > now:
                pauses.append(PoolPause(pool, until, event.payload.get("reason") or "rate limit"))
        return pauses
