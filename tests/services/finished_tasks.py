"""Helpers for stats, baselines and metrics tests: finished tasks with chosen durations."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from phaseloom.db.models import Task
from phaseloom.db.models.base import utcnow
from phaseloom.queue import QueueService


def finish(uow, ticket_id: int, phase_id: str, agent_id: str, seconds: float, *, failed: bool = False,
           retries: int = 0, ago: float = 60.0, task_type: str = "work") -> Task:
    """A task run by ``agent_id`` that took ``seconds`` and finished ``ago`` seconds ago."""
    queue = QueueService(uow)
    task = queue.create_task(ticket_id, phase_id, f"{phase_id} work", task_type=task_type, max_retries=0)
    claimed = queue.claim_next_task(agent_id)
    assert claimed.id == task.id, "finish() needs the new task to be the agent's best claim"
    queue.start_task(task.id, agent_id)
    if failed:
        queue.fail_task(task.id, agent_id, "broken", retryable=False)
    else:
        queue.complete_task(task.id, agent_id, {"ok": True})
    end = utcnow() - timedelta(seconds=ago)
    with uow:
        uow.session.execute(update(Task).where(Task.id == task.id).values(
            started_at=end - timedelta(seconds=seconds), completed_at=end, retry_count=retries))
    return queue.get(task.id)
