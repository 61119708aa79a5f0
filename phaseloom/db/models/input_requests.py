"""Questions agents asked a person (the ``ask_human`` MCP tool) and their answers (migration 0013h)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow


class TaskInputRequest(Base):
    """One question of a task's agent. Open while ``answered_at`` and ``closed_at`` are empty; an answer
    is handed to the agent's next run once (``delivered_at``); a question nobody answered in time is
    closed with ``closed_reason``."""

    __tablename__ = "task_input_requests"
    __table_args__ = (Index("ix_task_input_requests_task", "task_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    phase_id: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(default=list)
    asked_by: Mapped[str] = mapped_column(String(64))  # the agent that asked (the task holds none meanwhile)
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    answered_by: Mapped[str | None] = mapped_column(String(200), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_reason: Mapped[str | None] = mapped_column(Text, default=None)
