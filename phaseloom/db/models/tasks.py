from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow
from phaseloom.db.models.workflows import phase_fk

_READY = text("status = 'pending' AND unmet_dependencies = 0")
_LEASED = text("lease_expires_at IS NOT NULL")
_ACTIVE = text("status IN ('claimed', 'running')")
_HELD = text("held_project_id IS NOT NULL")


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    agent_type: Mapped[str] = mapped_column(String(50), default="worker")
    runtime: Mapped[str] = mapped_column(String(50), default="scripted")
    # Set: phase-specialised (OmoiOS). Null: capability-matched across phases (Hephaestus).
    phase_id: Mapped[str | None] = mapped_column(String(100), default=None)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), default=None)
    capabilities: Mapped[list[str]] = mapped_column(default=list)
    capacity: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default="idle")
    health: Mapped[str] = mapped_column(String(20), default="healthy")
    token_hash: Mapped[str | None] = mapped_column(String(128), default=None)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Added by migration 0006 (agent registry): where a worker runs and how its runs have gone.
    host: Mapped[str] = mapped_column(String(200), default="")
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        phase_fk("phase_id"),
        # The claim is an index scan in (score DESC, id) order over ready tasks, optionally per
        # phase (migration 0008): ties go to the older task and the ORDER BY needs no sort.
        Index("ix_tasks_ready_score_id", text("score DESC"), "id", sqlite_where=_READY, postgresql_where=_READY),
        Index("ix_tasks_ready_phase_score_id", "phase_id", text("score DESC"), "id",
              sqlite_where=_READY, postgresql_where=_READY),
        # Only leased tasks, for the reaper (0008); a (status, …) index would tempt SQLite's
        # planner into "all pending tasks, then sort" for the claim.
        Index("ix_tasks_leased", "lease_expires_at", sqlite_where=_LEASED, postgresql_where=_LEASED),
        Index("ix_tasks_ticket", "ticket_id", "phase_id"),
        # The claimed and running tasks of a project, whose path globs a claim must not overlap (0013).
        Index("ix_tasks_active_project", "project_id", sqlite_where=_ACTIVE, postgresql_where=_ACTIVE),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id"))
    phase_id: Mapped[str] = mapped_column(String(100))
    task_type: Mapped[str] = mapped_column(String(50), default="work")
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(10), default="MEDIUM")
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    required_capabilities: Mapped[list[str]] = mapped_column(default=list)
    capability_count: Mapped[int] = mapped_column(default=0)
    unmet_dependencies: Mapped[int] = mapped_column(default=0)
    assigned_agent_id: Mapped[str | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), default=None, index=True
    )
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    retry_count: Mapped[int] = mapped_column(default=0)
    max_retries: Mapped[int] = mapped_column(default=3)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=1800.0)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    error_class: Mapped[str | None] = mapped_column(String(20), default=None)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The agent CLI's own session (to resume it) and what it was last seen doing (migration 0011).
    session_id: Mapped[str | None] = mapped_column(String(200), default=None)
    activity: Mapped[str | None] = mapped_column(String(200), default=None)
    activity_at: Mapped[datetime | None] = mapped_column(default=None)
    # The worker running the task's agent has yet to merge its work into the ticket's branch (migration
    # 0012). An agent's own complete_task lands before that merge: until it is done, the task holds its
    # ticket in the phase, and its lease (renewed by the worker) says whether a worker is still on it.
    awaiting_merge: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # How many path globs the task declared (its task_paths rows, migration 0013): 0 is undeclared, and its
    # claim skips the path-overlap probe, as capability_count does for capabilities.
    path_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class TaskCapability(Base):
    """One row per required capability, so the claim can test ⊆ in SQL on any backend."""

    __tablename__ = "task_capabilities"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    capability: Mapped[str] = mapped_column(String(100), primary_key=True)


class TaskPath(Base):
    """A path glob a task declared it touches, with its literal prefix (phaseloom/domain/task_paths.py).

    The claim reads a candidate's own rows by task (the primary key's first column), and the rows of
    its project's claimed and running tasks by ``ix_task_paths_held``: ``held_project_id`` is the
    task's project while it is claimed or running, else NULL. Triggers keep it (migration
    0014_paths_held): nothing in Python writes it.
    """

    __tablename__ = "task_paths"
    __table_args__ = (
        Index("ix_task_paths_held", "held_project_id", "prefix", sqlite_where=_HELD, postgresql_where=_HELD,
              postgresql_ops={"prefix": "varchar_pattern_ops"}),
    )

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    glob: Mapped[str] = mapped_column(String(500), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(500))
    held_project_id: Mapped[int | None] = mapped_column(default=None)


class TaskDependency(Base):
    __tablename__ = "task_dependencies"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True, index=True
    )
