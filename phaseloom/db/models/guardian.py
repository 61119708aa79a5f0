"""Guardian assessments and the steering notes they leave for agents (migration 000b).

Both are stored, not kept in memory: the note rate limit and the misalignment streak must
survive an orchestrator restart.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow


class GuardianAssessment(Base):
    """One look at a running agent: its alignment score, why, and what the Guardian did about it."""

    __tablename__ = "guardian_assessments"
    __table_args__ = (
        Index("ix_guardian_assessments_task", "task_id", "id"),
        Index("ix_guardian_assessments_ticket", "ticket_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    phase_id: Mapped[str] = mapped_column(String(100))
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(default=list)
    judge: Mapped[str] = mapped_column(String(20), default="rules")
    intervention: Mapped[str] = mapped_column(String(20), default="none")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SteeringNote(Base):
    """A note for the agent on a task; handed over (and stamped) on the agent's next tool call."""

    __tablename__ = "steering_notes"
    __table_args__ = (Index("ix_steering_notes_agent", "agent_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
