"""The merge queue: a ticket's branch waiting to land on its repository's target branch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow


class MergeQueueEntry(Base):
    """One attempt of one ticket's branch to land; a ticket sent back and finished again gets a new row."""

    __tablename__ = "merge_queue_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    repo_path: Mapped[str] = mapped_column(Text)  # the queue is per repository, in id order
    branch: Mapped[str] = mapped_column(String(200))
    into: Mapped[str] = mapped_column(String(200))
    strategy: Mapped[str] = mapped_column(String(20), default="merge")
    from_phase_id: Mapped[str] = mapped_column(String(100))  # the phase whose gate sent it here
    # queued | testing | landed | rejected (domain.merge_queue.MergeStatus)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)  # tests run (a target that moved meanwhile means another)
    base_commit: Mapped[str | None] = mapped_column(String(64), default=None)    # the target's tip it was tested on
    tested_commit: Mapped[str | None] = mapped_column(String(64), default=None)  # the merged result the checks ran on
    landed_commit: Mapped[str | None] = mapped_column(String(64), default=None)
    conflicts: Mapped[list[Any]] = mapped_column(default=list)
    failed_check: Mapped[list[Any]] = mapped_column(default=list)  # the argv that failed
    output: Mapped[str] = mapped_column(Text, default="")  # the failing check's output (its end)
    reason: Mapped[str] = mapped_column(Text, default="")
    task_id: Mapped[int | None] = mapped_column(default=None)  # the task a rejection queued
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_merge_queue_repo_status", "repo_path", "status", "id"),
        Index("ix_merge_queue_ticket", "ticket_id", "status"),
    )
