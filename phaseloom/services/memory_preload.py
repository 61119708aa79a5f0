"""Preloading: the memories a task's instructions carry, and the record of which they were.

Each phase sets how many (``configuration.memory_preload``, default 20, 0 for none). The
memories put into a task's instructions when they were last built are kept in
``task_preloaded_memories``, so the task page and the API show exactly what the agent was told.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select

from phaseloom.db.models import Task
from phaseloom.db.models.memory import TaskMemory, TaskPreloadedMemory
from phaseloom.domain.errors import NotFound
from phaseloom.embeddings import shared_embedder
from phaseloom.services.memory import MemoryHit, MemoryService
from phaseloom.db.unit_of_work import UnitOfWork

EXCERPT_CHARS = 400


class MemorySection:
    """Instructions section: the most relevant memories for the task's phase and ticket, compact.

    Searched by meaning and by words, or by words only when the context's ``memory_semantic`` is
    false. ``limit`` overrides the phase's ``memory_preload``.
    """

    title = "What other agents learned"

    def __init__(self, limit: int | None = None, budget_chars: int = 4000) -> None:
        self.limit, self.budget_chars = limit, budget_chars

    def render(self, ctx) -> str | None:
        uow = ctx.uow
        limit = ctx.phase.configuration.memory_preload if self.limit is None else self.limit
        hits: list[MemoryHit] = []
        if limit > 0 and uow.session.scalar(select(func.count()).select_from(TaskMemory)
                                            .where(TaskMemory.project_id == ctx.task.project_id)):
            embedder = shared_embedder() if ctx.memory_semantic else None
            hits = MemoryService(uow, embedder=embedder).memories_for_task(ctx.task.id, limit=limit,
                                                                           budget_chars=self.budget_chars)
        record_preloaded(uow, ctx.task.id, [h.memory.id for h in hits])
        lines = [f"- [{h.memory.memory_type}{', ' + h.memory.phase_id if h.memory.phase_id else ''}] "
                 f"{' '.join(h.memory.content.split())[:EXCERPT_CHARS]}" for h in hits]
        return "\n".join(lines) or None


def record_preloaded(uow: UnitOfWork, task_id: int, memory_ids: list[int]) -> None:
    """Replace the task's record with ``memory_ids`` (in order); nothing is written when unchanged."""
    session = uow.session
    current = list(session.scalars(select(TaskPreloadedMemory.memory_id).where(TaskPreloadedMemory.task_id == task_id)
                                   .order_by(TaskPreloadedMemory.rank)))
    if current == memory_ids:
        return
    session.execute(delete(TaskPreloadedMemory).where(TaskPreloadedMemory.task_id == task_id))
    session.add_all(TaskPreloadedMemory(task_id=task_id, memory_id=memory_id, rank=rank)
                    for rank, memory_id in enumerate(memory_ids, 1))
    session.flush()


def preloaded_memories(uow: UnitOfWork, task_id: int) -> list[dict]:
    """The memories the task's instructions carried when last built, in their order (JSON-ready)."""
    with uow:
        if uow.session.get(Task, int(task_id)) is None:
            raise NotFound("task", task_id)
        rows = uow.session.execute(
            select(TaskPreloadedMemory.rank, TaskPreloadedMemory.created_at, TaskMemory)
            .join(TaskMemory, TaskMemory.id == TaskPreloadedMemory.memory_id)
            .where(TaskPreloadedMemory.task_id == task_id).order_by(TaskPreloadedMemory.rank)).all()
        return [{"rank": rank, "memory_id": m.id, "memory_type": m.memory_type, "phase_id": m.phase_id,
                 "content": " ".join(m.content.split())[:EXCERPT_CHARS],
                 "preloaded_at": at.isoformat() if at else None} for rank, at, m in rows]
