"""``/api/memories``: save what was learned; search it by meaning and by words."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path as PathParam, Query

from phaseloom.api.deps import AppSettings, Caller, Uow
from phaseloom.domain.errors import InvalidInput
from phaseloom.schemas.api.common import MAX_ID
from phaseloom.schemas.memory import (
    MemoryCreate,
    MemoryOut,
    MemorySaved,
    MemorySearchResult,
    MemoryTypeName,
    PreloadedMemoryOut,
    hit_out,
)
from phaseloom.services.auth import AuthService
from phaseloom.services.memory import MemoryService
from phaseloom.services.memory_preload import preloaded_memories

router = APIRouter(prefix="/api/memories", tags=["memories"])
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.post("", response_model=MemorySaved, status_code=201)
def save_memory(body: MemoryCreate, uow: Uow, caller: Caller, settings: AppSettings) -> MemorySaved:
    """Save a memory for a task (agents: their own tasks) or a project (admin)."""
    if body.task_id is None and body.project_id is None:
        raise InvalidInput("a memory needs a task_id or a project_id")
    with uow:
        if body.task_id is not None:
            AuthService(uow).authorize_task(caller, body.task_id)
        else:
            caller.require_admin()
        saved = MemoryService(uow, settings).save_memory(
            body.content, body.memory_type, task_id=body.task_id, project_id=body.project_id,
            agent_id=caller.agent_id, goal=body.goal, result=body.result, feedback=body.feedback,
            related_files=body.related_files, tags=body.tags)
        return MemorySaved(memory=MemoryOut.model_validate(saved.memory), action=saved.action)


@router.get("", response_model=MemorySearchResult)
def find_memories(uow: Uow, caller: Caller, settings: AppSettings,
                  q: Annotated[str, Query(min_length=1, max_length=2000)],
                  project_id: IdFilter = None, ticket_id: IdFilter = None,
                  phase_id: Annotated[str | None, Query(max_length=100)] = None,
                  memory_type: MemoryTypeName | None = None,
                  limit: Annotated[int, Query(ge=1, le=100)] = 10,
                  mode: Literal["hybrid", "semantic", "keyword"] = "hybrid") -> MemorySearchResult:
    """Hybrid search (semantic + keyword, fused with Reciprocal Rank Fusion); filters narrow it."""
    if not caller.is_admin:
        if project_id is None:
            raise InvalidInput("agents search within a project: pass project_id")
        if caller.project_id is not None and caller.project_id != project_id:
            caller.require_admin()
    service = MemoryService(uow, settings)
    hits = service.search(q, project_id=project_id, ticket_id=ticket_id, phase_id=phase_id,
                          memory_type=memory_type, limit=limit, mode=mode)
    return MemorySearchResult(query=q, mode=mode, semantic_available=service.embedder is not None,
                              hits=[hit_out(h) for h in hits])


@router.get("/preloaded/{task_id}", response_model=list[PreloadedMemoryOut])
def preloaded(task_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], uow: Uow, caller: Caller) -> list[dict]:
    """The memories the task's instructions carried when they were last built, in their order."""
    with uow:
        AuthService(uow).authorize_task(caller, task_id)  # an agent reads only its own tasks
        return preloaded_memories(uow, task_id)
