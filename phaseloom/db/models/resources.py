"""The CPU time and peak memory of each agent run that could be measured (migration 000c)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow


class RunResources(Base):
    """One run of a task's agent process. A figure is None when it could not be measured, and
    ``unmeasured_reason`` says why; it is never a made-up zero."""

    __tablename__ = "run_resources"
    __table_args__ = (Index("ix_run_resources_task", "task_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    cpu_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    peak_memory_kib: Mapped[int | None] = mapped_column(Integer, default=None)
    unmeasured_reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
