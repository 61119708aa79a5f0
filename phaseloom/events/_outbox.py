"""Reading the event outbox: the ``system_events`` table in id order, filtered.

Every read sees ids in commit order (SQLite has one writer; on PostgreSQL event writers hold
an advisory lock shared until they commit and a reader takes it exclusively, see
:func:`phaseloom.db.unit_of_work.wait_for_event_writers`), so "everything after id N" is
a complete, ordered answer at any moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from phaseloom.db.models import SystemEvent
from phaseloom.domain.errors import InvalidInput
from phaseloom.db.unit_of_work import UnitOfWork, event_as_dict, wait_for_event_writers

MAX_PAGE = 1000


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscriber wants; an unset field matches everything."""

    project_id: int | None = None
    ticket_id: int | None = None
    phase_id: str | None = None
    types: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(cls, *, project_id: int | None = None, ticket_id: int | None = None,
              phase_id: str | None = None, types: str | Iterable[str] | None = None) -> "EventFilter":
        """Accept ``types`` as a comma-separated string (as query strings carry it) or a list."""
        if isinstance(types, str):
            types = types.split(",")
        names = frozenset(t.strip() for t in (types or ()) if t and t.strip())
        return cls(project_id=project_id, ticket_id=ticket_id, phase_id=phase_id or None, types=names)

    def matches(self, event: dict[str, Any]) -> bool:
        return (
            (self.project_id is None or event["project_id"] == self.project_id)
            and (self.ticket_id is None or event["ticket_id"] == self.ticket_id)
            and (self.phase_id is None or event["phase_id"] == self.phase_id)
            and (not self.types or event["event_type"] in self.types)
        )

    def where(self, stmt):
        if self.project_id is not None:
            stmt = stmt.where(SystemEvent.project_id == self.project_id)
        if self.ticket_id is not None:
            stmt = stmt.where(SystemEvent.ticket_id == self.ticket_id)
        if self.phase_id is not None:
            stmt = stmt.where(SystemEvent.phase_id == self.phase_id)
        if self.types:
            stmt = stmt.where(SystemEvent.event_type.in_(sorted(self.types)))
        return stmt


class EventLog:
    """The outbox, read in id order."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def events_since(self, since_id: int = 0, event_filter: EventFilter | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
        """Events with ``id > since_id`` that match the filter, oldest first, at most ``limit``."""
        if since_id < 0:
            raise InvalidInput("since must be 0 or a positive event id")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
        stmt = select(SystemEvent).where(SystemEvent.id > since_id)
        stmt = (event_filter or EventFilter()).where(stmt).order_by(SystemEvent.id).limit(limit)
        with self.uow:
            wait_for_event_writers(self.uow.session)
            return [event_as_dict(e) for e in self.uow.session.scalars(stmt)]

    def latest_id(self) -> int:
        """The id of the newest event, 0 when there is none."""
        with self.uow:
            wait_for_event_writers(self.uow.session)
            return int(self.uow.session.scalar(select(func.max(SystemEvent.id))) or 0)
