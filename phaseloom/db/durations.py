"""SQL for how long something took, on either backend (PostgreSQL's epoch, SQLite's julianday)."""

from __future__ import annotations

from sqlalchemy import func

from phaseloom.db.models import Task


def duration_seconds(backend: str, start, end):
    """SQL for the seconds between two timestamp columns, on either backend."""
    if backend == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def task_duration(backend: str):
    """SQL for a task's run time: from its start (or its claim, when it never said it started) to its end."""
    return duration_seconds(backend, func.coalesce(Task.started_at, Task.claimed_at), Task.completed_at)
