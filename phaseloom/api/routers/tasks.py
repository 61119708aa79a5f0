"""``/api/tasks``: queue, claim, heartbeat, complete and fail tasks.

An agent token acts as its own agent and only on tasks assigned to it; an admin token may act
for any agent (and must name the agent when claiming).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from phaseloom.api.deps import AppSettings, Caller, Limit, Offset, Uow
from phaseloom.domain.errors import InvalidInput
from phaseloom.schemas.api.common import MAX_ID, Page, page_of
from phaseloom.schemas.api.tasks import (
    ClaimOut,
    SnapshotOut,
    TaskClaim,
    TaskComplete,
    TaskCreate,
    TaskFail,
    TaskHeartbeat,
    TaskOut,
)
from phaseloom.services.auth import AuthService
from phaseloom.queue import QueueService

router = APIRouter(prefix="/api/tasks", tags=["tasks"])
TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
TextFilter = Annotated[str | None, Query(max_length=100)]


@router.post("", response_model=TaskOut, status_code=201)
def create_task(body: TaskCreate, uow: Uow, caller: Caller, settings: AppSettings) -> TaskOut:
    with uow:
        AuthService(uow).authorize_ticket(caller, body.ticket_id)
        task = QueueService(uow, settings).create_task(
            body.ticket_id, body.phase_id, body.title, description=body.description, priority=body.priority,
            task_type=body.task_type, required_capabilities=body.required_capabilities,
            depends_on=body.depends_on, max_retries=body.max_retries, timeout_seconds=body.timeout_seconds,
            created_by=caller.name, paths=body.paths)
    return shaped(QueueService(uow, settings), [task])[0]


def shaped(queue: QueueService, tasks: list) -> list[TaskOut]:
    """The tasks as returned, with the paths they declared and what they wait for (:meth:`QueueService.path_facts`)."""
    facts = queue.path_facts(tasks)
    return [TaskOut.model_validate(t).model_copy(update=facts.get(t.id, {})) for t in tasks]


@router.get("", response_model=Page[TaskOut])
def list_tasks(uow: Uow, caller: Caller, settings: AppSettings, ticket_id: IdFilter = None,
               project_id: IdFilter = None, phase_id: TextFilter = None, status: TextFilter = None,
               limit: Limit = 50, offset: Offset = 0):
    project_id = caller.readable_project(project_id)
    tasks = QueueService(uow, settings).list(ticket_id=ticket_id, project_id=project_id, phase_id=phase_id,
                                             status=status, limit=limit, offset=offset)
    return page_of(shaped(QueueService(uow, settings), tasks), limit, offset)


@router.get("/{task_id}", response_model=TaskOut)
def show_task(task_id: TaskId, uow: Uow, caller: Caller, settings: AppSettings) -> TaskOut:
    AuthService(uow).authorize_task(caller, task_id)  # an agent reads only its own tasks
    queue = QueueService(uow, settings)
    return shaped(queue, [queue.get(task_id)])[0]


@router.get("/{task_id}/snapshots", response_model=list[SnapshotOut],
            summary="The snapshots of the task's worktree, oldest first")
def task_snapshots(task_id: TaskId, uow: Uow, caller: Caller) -> list[SnapshotOut]:
    from phaseloom.services.snapshots import SnapshotService

    AuthService(uow).authorize_task(caller, task_id)
    return [SnapshotOut.model_validate(s) for s in SnapshotService(uow).list(task_id)]


@router.post("/claim", response_model=ClaimOut, summary="Claim the best ready task for an agent (task null if none)")
def claim_task(body: TaskClaim, uow: Uow, caller: Caller, settings: AppSettings) -> ClaimOut:
    agent_id = body.agent_id or caller.agent_id
    if agent_id is None:
        raise InvalidInput("claiming with an admin token needs the agent_id to claim for")
    with uow:
        AuthService(uow).authorize_agent(caller, agent_id)
        task = QueueService(uow, settings).claim_next_task(agent_id, lease_seconds=body.lease_seconds)
    return ClaimOut(task=shaped(QueueService(uow, settings), [task])[0] if task else None)


@router.post("/{task_id}/start", response_model=TaskOut)
def start_task(task_id: TaskId, uow: Uow, caller: Caller, settings: AppSettings) -> TaskOut:
    with uow:
        AuthService(uow).authorize_task(caller, task_id)
        agent_id = caller.agent_id or QueueService(uow, settings).get(task_id).assigned_agent_id
        task = QueueService(uow, settings).start_task(task_id, agent_id)
    return shaped(QueueService(uow, settings), [task])[0]


@router.post("/{task_id}/heartbeat", response_model=TaskOut)
def heartbeat_task(task_id: TaskId, body: TaskHeartbeat, uow: Uow, caller: Caller, settings: AppSettings):
    with uow:
        AuthService(uow).authorize_task(caller, task_id)
        task = QueueService(uow, settings).heartbeat(task_id, caller.agent_id, lease_seconds=body.lease_seconds)
    return shaped(QueueService(uow, settings), [task])[0]


@router.post("/{task_id}/complete", response_model=TaskOut)
def complete_task(task_id: TaskId, body: TaskComplete, uow: Uow, caller: Caller, settings: AppSettings):
    with uow:
        AuthService(uow).authorize_task(caller, task_id)
        task = QueueService(uow, settings).complete_task(task_id, caller.agent_id, body.result)
    return shaped(QueueService(uow, settings), [task])[0]


@router.post("/{task_id}/fail", response_model=TaskOut)
def fail_task(task_id: TaskId, body: TaskFail, uow: Uow, caller: Caller, settings: AppSettings):
    with uow:
        AuthService(uow).authorize_task(caller, task_id)
        task = QueueService(uow, settings).fail_task(task_id, caller.agent_id, body.error,
                                                     retryable=body.retryable)
    return shaped(QueueService(uow, settings), [task])[0]
