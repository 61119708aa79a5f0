"""Artifacts, gate results, done-definition checks, approvals and discoveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow


class Artifact(Base):
    """A file a phase produced; one row per distinct content of a path in a ticket."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("ticket_id", "path", "content_hash", name="uq_artifacts_ticket_path_hash"),
        Index("ix_artifacts_ticket_phase", "ticket_id", "phase_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    phase_id: Mapped[str] = mapped_column(String(100))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), default=None)
    artifact_type: Mapped[str] = mapped_column(String(50), default="file")
    path: Mapped[str] = mapped_column(String(1000))
    content_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(default=0)
    # Text artifacts up to a size limit are kept, so a gate can be checked without the workspace.
    content: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GateResult(Base):
    __tablename__ = "gate_results"
    __table_args__ = (Index("ix_gate_results_ticket_phase", "ticket_id", "phase_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    phase_id: Mapped[str] = mapped_column(String(100))
    passed: Mapped[bool] = mapped_column(default=False)
    outcomes: Mapped[list[Any]] = mapped_column(default=list)
    blocking_reasons: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DoneDefinitionCheck(Base):
    __tablename__ = "done_definition_checks"
    __table_args__ = (
        UniqueConstraint("ticket_id", "phase_id", "item_index", name="uq_done_definition_checks_item"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    phase_id: Mapped[str] = mapped_column(String(100))
    item_index: Mapped[int] = mapped_column()
    text: Mapped[str] = mapped_column(Text)
    ticked: Mapped[bool] = mapped_column(default=False)
    evidence: Mapped[str] = mapped_column(Text, default="")
    ticked_by: Mapped[str] = mapped_column(String(200), default="")
    ticked_at: Mapped[datetime] = mapped_column(default=utcnow)


class GateApproval(Base):
    """A person's approval of a criterion no machine can check (manual verification, code review)."""

    __tablename__ = "gate_approvals"
    __table_args__ = (
        UniqueConstraint("ticket_id", "phase_id", "criterion_key", name="uq_gate_approvals_criterion"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    phase_id: Mapped[str] = mapped_column(String(100))
    criterion_key: Mapped[str] = mapped_column(String(100))
    approved_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskDiscovery(Base):
    """Something an agent found while working, and the task(s) it spawned in any phase."""

    __tablename__ = "task_discoveries"
    __table_args__ = (
        Index("ix_task_discoveries_ticket", "ticket_id", "status"),
        Index("ix_task_discoveries_type", "discovery_type", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    source_task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="SET NULL"), default=None, index=True
    )
    source_phase_id: Mapped[str | None] = mapped_column(String(100), default=None)
    discovery_type: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text)
    spawn_phase_id: Mapped[str | None] = mapped_column(String(100), default=None)
    spawned_task_ids: Mapped[list[Any]] = mapped_column(default=list)
    priority_boost: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_by: Mapped[str] = mapped_column(String(200), default="agent")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
