from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow


class SystemEvent(Base):
    """The outbox: every state change writes one of these in the same transaction."""

    __tablename__ = "system_events"
    __table_args__ = (Index("ix_system_events_project", "project_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # Not indexed: reads walk the outbox in id order (migration 0010).
    event_type: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str] = mapped_column(String(100))
    project_id: Mapped[int | None] = mapped_column(default=None)
    ticket_id: Mapped[int | None] = mapped_column(default=None, index=True)
    phase_id: Mapped[str | None] = mapped_column(String(100), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
