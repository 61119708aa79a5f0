from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow
from phaseloom.db.models.workflows import phase_fk


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id"))
    repo_path: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        phase_fk("phase_id"),
        Index("ix_tickets_project_phase", "project_id", "phase_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id"))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(10), default="MEDIUM")
    phase_id: Mapped[str] = mapped_column(String(100))
    blocked_reason: Mapped[str | None] = mapped_column(Text, default=None)
    return_phase_id: Mapped[str | None] = mapped_column(String(100), default=None)
    # Count of tickets in blocked_by that are not DONE yet; tasks are claimable only at 0.
    open_blockers: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class TicketDependency(Base):
    """``ticket_id`` is blocked by ``blocked_by_id`` until that ticket is DONE."""

    __tablename__ = "ticket_dependencies"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    blocked_by_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    resolved: Mapped[bool] = mapped_column(default=False)


class PhaseHistory(Base):
    __tablename__ = "phase_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    from_phase_id: Mapped[str | None] = mapped_column(String(100))
    to_phase_id: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(100))
    to_status: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    initiated_by: Mapped[str] = mapped_column(String(200), default="system")
    forced: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
