"""Validation reviews, stuck-ticket diagnoses and workflow results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow


class TaskReview(Base):
    """The review state of one task in a phase that requires review (one row per task)."""

    __tablename__ = "task_reviews"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    phase_id: Mapped[str] = mapped_column(String(100))
    # pending | under_review | validation_in_progress | needs_work | approved
    state: Mapped[str] = mapped_column(String(30), default="pending")
    failed_iterations: Mapped[int] = mapped_column(default=0)
    max_iterations: Mapped[int] = mapped_column(default=3)
    feedback: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_task_reviews_ticket_phase", "ticket_id", "phase_id"),)


class ValidationReview(Base):
    """One round of validation: a validator task judging a task's work or a workflow result."""

    __tablename__ = "validation_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    phase_id: Mapped[str] = mapped_column(String(100))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), default=None)
    result_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_results.id", ondelete="CASCADE"),
                                                  default=None)
    validator_task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), unique=True)
    iteration: Mapped[int] = mapped_column(default=1)
    # pending | validation_in_progress | approved | needs_work
    state: Mapped[str] = mapped_column(String(30), default="pending")
    passed: Mapped[bool | None] = mapped_column(default=None)
    feedback: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    validator_agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_validation_reviews_ticket_phase", "ticket_id", "phase_id"),
        Index("ix_validation_reviews_task", "task_id"),
    )


class Diagnosis(Base):
    """Why a ticket was judged stuck, what to do about it, and the recovery tasks spawned."""

    __tablename__ = "diagnoses"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(40))
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    recommendation: Mapped[str] = mapped_column(Text, default="")
    inferred_phase_id: Mapped[str | None] = mapped_column(String(100), default=None)
    inferred_from: Mapped[str] = mapped_column(String(20), default="current")
    discovery_id: Mapped[int | None] = mapped_column(default=None)
    recovery_task_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_diagnoses_ticket_created", "ticket_id", "created_at"),)


class WorkflowResult(Base):
    """A submitted answer to a workflow with ``has_result``, and what its approval did."""

    __tablename__ = "workflow_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), default=None)
    markdown_path: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    # pending_validation | approved | rejected
    status: Mapped[str] = mapped_column(String(30), default="pending_validation")
    validation_task_id: Mapped[int | None] = mapped_column(default=None)
    feedback: Mapped[str] = mapped_column(Text, default="")
    on_result_found: Mapped[str] = mapped_column(String(20), default="do_nothing")
    cancelled_task_ids: Mapped[list[Any]] = mapped_column(default=list)
    stop_requested_task_ids: Mapped[list[Any]] = mapped_column(default=list)
    reason: Mapped[str] = mapped_column(Text, default="")
    submitted_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
