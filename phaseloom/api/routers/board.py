"""``/api/board``: the kanban board of a project, and moving a card (a transition)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from phaseloom.api.deps import Caller, Uow
from phaseloom.api.scoping import project_id_for, require_readable
from phaseloom.schemas.api.board import BoardMove, BoardOut, ColumnOut
from phaseloom.schemas.api.questions import QuestionOut
from phaseloom.schemas.api.tickets import TicketOut
from phaseloom.services.auth import AuthService
from phaseloom.services.board import BoardService

router = APIRouter(prefix="/api/board", tags=["board"])


@router.get("/{project}", response_model=BoardOut)
def show_board(project: Annotated[str, Path(max_length=200)], uow: Uow, caller: Caller,
               priority: Annotated[str | None, Query(max_length=20)] = None) -> BoardOut:
    with uow:
        project_id = project_id_for(uow, caller, project)
        require_readable(caller, project_id, what="board")
        columns = BoardService(uow).board(project_id, priority=priority)
        questions = BoardService(uow).needs_input(project_id)
    return BoardOut(project_id=project_id, columns=[
        ColumnOut(id=c.id, name=c.name, phase_mapping=c.phase_mapping, wip_limit=c.wip_limit, wip_use=c.wip_use,
                  tickets=[TicketOut.model_validate(t) for t in c.tickets]) for c in columns],
        needs_input=[QuestionOut.model_validate(q) for q in questions])


@router.post("/move", response_model=TicketOut,
             responses={409: {"description": "no phase of the column is reachable (lists allowed_targets) or WIP limit"}})
def move_card(body: BoardMove, uow: Uow, caller: Caller) -> TicketOut:
    with uow:
        AuthService(uow).authorize_ticket(caller, body.ticket_id)
        if body.force:
            caller.require_admin()
        ticket = BoardService(uow).move_ticket(body.ticket_id, body.column_id, force=body.force,
                                               initiated_by=caller.name, reason=body.reason)
    return TicketOut.model_validate(ticket)
