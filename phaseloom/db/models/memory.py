from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow


class TaskMemory(Base):
    """Something an agent learned, searchable by meaning (embedding) and by words (full-text).

    The full-text index is not mapped here: SQLite keeps an FTS5 table over ``search_text``
    maintained by triggers, PostgreSQL a generated ``tsvector`` column with a GIN index
    (see migration 0007). Nor is ``embedding_stamp``, which triggers set when an embedding is
    written and the vector index syncs by (see :mod:`phaseloom.db.embedding_stamps`).
    """

    __tablename__ = "task_memories"
    __table_args__ = (
        Index("ix_task_memories_project_phase", "project_id", "phase_id"),
        Index("ix_task_memories_unembedded", "project_id", "id",
              sqlite_where=text("embedding IS NULL"), postgresql_where=text("embedding IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), default=None)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), default=None)
    phase_id: Mapped[str | None] = mapped_column(String(100), default=None)
    agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    memory_type: Mapped[str] = mapped_column(String(30))
    content: Mapped[str] = mapped_column(Text)
    goal: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[str] = mapped_column(Text, default="")
    feedback: Mapped[str] = mapped_column(Text, default="")
    related_files: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[list[str]] = mapped_column(default=list)
    search_text: Mapped[str] = mapped_column(Text, default="")
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    embedding_model: Mapped[str | None] = mapped_column(String(100), default=None)
    times_seen: Mapped[int] = mapped_column(default=1)
    times_used: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)



class TaskPreloadedMemory(Base):
    """A memory put into a task's instructions when they were last built, in the order shown."""

    __tablename__ = "task_preloaded_memories"
    __table_args__ = (Index("ix_task_preloaded_memories_task", "task_id", "rank"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    memory_id: Mapped[int] = mapped_column(ForeignKey("task_memories.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
