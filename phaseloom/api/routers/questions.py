"""Needs input: ``GET /api/questions`` (agents' open questions) and ``POST /api/tasks/{id}/answer``.

Only a person answers (an admin token): an agent's question is not another agent's to settle.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from phaseloom.api.deps import AppSettings, Caller, Uow
from phaseloom.schemas.api.common import MAX_ID
from phaseloom.schemas.api.questions import AnswerOut, QuestionOut, TaskAnswer
from phaseloom.services.human_input import HumanInputService

router = APIRouter(tags=["questions"])
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/api/questions", response_model=list[QuestionOut], summary="Questions agents asked, not answered yet")
def list_questions(uow: Uow, caller: Caller, settings: AppSettings, project_id: IdFilter = None,
                   ticket_id: IdFilter = None) -> list[QuestionOut]:
    project_id = caller.readable_project(project_id)
    found = HumanInputService(uow, settings).questions(project_id=project_id, ticket_id=ticket_id)
    return [QuestionOut.model_validate(q) for q in found]


@router.post("/api/tasks/{task_id}/answer", response_model=AnswerOut,
             responses={409: {"description": "the task is not waiting for an answer (nothing is changed)"}})
def answer_task(task_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: TaskAnswer, uow: Uow, caller: Caller,
                settings: AppSettings) -> AnswerOut:
    caller.require_admin()
    request = HumanInputService(uow, settings).answer(task_id, body.answer, answered_by=caller.name)
    return AnswerOut(task_id=task_id, request_id=request.id, status="pending",
                     message=f"task {task_id} is queued again; its agent resumes with the answer")
