"""The heartbeat a running agent's task gets, and telling "the agent reported" from "the lease is lost"."""

from __future__ import annotations

from phaseloom.db.engine import Database
from phaseloom.db.models import Task
from phaseloom.domain.errors import LeaseLost, TaskNotClaimable
from phaseloom.domain.tasks import MERGE_HOLDING_STATUSES
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.db.unit_of_work import UnitOfWork



def heartbeat(db: Database, task_id: int, agent_id: str, lease_seconds: float) -> None:
    """Extend the task's lease; raise :class:`LeaseLost` when the claim ended without the agent's report.

    A refused heartbeat after the agent's own complete_task is expected (its run goes on to its
    end); after the lease reaper, a release or a fail_task, the queue may give the task to another
    agent, so this one must be stopped rather than go on working on it.
    """
    try:
        QueueService(UnitOfWork(db)).heartbeat(task_id, agent_id, lease_seconds=lease_seconds)
    except TaskNotClaimable as exc:
        if not _reported_by(db, task_id, agent_id):
            raise LeaseLost(f"task {task_id} is no longer held by {agent_id}: {exc}") from exc
        raise
    AgentService(UnitOfWork(db)).heartbeat(agent_id)


def _reported_by(db: Database, task_id: int, agent_id: str) -> bool:
    with UnitOfWork(db, readonly=True) as uow:
        task = uow.session.get(Task, task_id)
        return task is not None and task.status in MERGE_HOLDING_STATUSES and task.assigned_agent_id in (agent_id, None)
