from __future__ import annotations

import pytest
from sqlalchemy import select

from phaseloom.db.models import SystemEvent, Ticket
from phaseloom.domain.errors import InvalidTransition, WipLimitReached
from phaseloom.loaders.documents import load_workflow_data
from phaseloom.services.board import BoardService
from phaseloom.services.projects import ProjectService
from phaseloom.services.tickets import TicketService
from phaseloom.services.workflows import WorkflowService


def test_new_ticket_starts_in_backlog_with_history(uow, project):
    ticket = TicketService(uow).create_ticket(project.id, "Add login", priority="HIGH")
    assert ticket.phase_id == "PHASE_BACKLOG"
    assert ticket.status == "backlog"
    history = TicketService(uow).history(ticket.id)
    assert [(h.from_phase_id, h.to_phase_id) for h in history] == [(None, "PHASE_BACKLOG")]


def test_transition_writes_history_and_events_in_one_transaction(uow, project):
    tickets = TicketService(uow)
    ticket = tickets.create_ticket(project.id, "Add login")
    moved = tickets.transition(ticket.id, "PHASE_REQUIREMENTS", reason="triaged", initiated_by="alice")
    assert (moved.phase_id, moved.status, moved.column) == ("PHASE_REQUIREMENTS", "analyzing", "analyzing")
    last = tickets.history(ticket.id)[-1]
    assert (last.from_status, last.to_status, last.reason, last.initiated_by) == (
        "backlog", "analyzing", "triaged", "alice")
    with uow:
        types = uow.session.scalars(select(SystemEvent.event_type).where(SystemEvent.ticket_id == ticket.id)).all()
    assert types == ["ticket.created", "ticket.status_transitioned", "board.ticket_moved"]


def test_invalid_transition_names_allowed_targets_and_changes_nothing(uow, project):
    tickets = TicketService(uow)
    ticket = tickets.create_ticket(project.id, "Add login")
    with pytest.raises(InvalidTransition) as info:
        tickets.transition(ticket.id, "PHASE_TESTING")
    assert info.value.allowed == ["PHASE_REQUIREMENTS", "PHASE_BLOCKED"]
    assert "allowed: PHASE_REQUIREMENTS, PHASE_BLOCKED" in str(info.value)
    assert tickets.get(ticket.id).phase_id == "PHASE_BACKLOG"
    assert len(tickets.history(ticket.id)) == 1


def test_testing_may_return_to_implementation(uow, project):
    tickets = TicketService(uow)
    t = tickets.create_ticket(project.id, "x")
    for phase in ["PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION", "PHASE_TESTING",
                  "PHASE_IMPLEMENTATION", "PHASE_TESTING", "PHASE_DEPLOYMENT", "PHASE_DONE"]:
        t = tickets.transition(t.id, phase)
    assert t.is_done and t.status == "done"
    with pytest.raises(InvalidTransition):
        tickets.transition(t.id, "PHASE_BACKLOG")


def test_block_records_return_phase_and_unblock_goes_back(uow, project):
    tickets = TicketService(uow)
    t = tickets.create_ticket(project.id, "x")
    tickets.transition(t.id, "PHASE_REQUIREMENTS")
    blocked = tickets.block(t.id, "waiting for API keys")
    assert (blocked.phase_id, blocked.return_phase_id, blocked.blocked_reason) == (
        "PHASE_BLOCKED", "PHASE_REQUIREMENTS", "waiting for API keys")
    back = tickets.unblock(t.id)
    assert back.phase_id == "PHASE_REQUIREMENTS" and back.blocked_reason is None


def test_blocked_by_counts_open_blockers_until_done(uow, project):
    tickets = TicketService(uow)
    first = tickets.create_ticket(project.id, "first")
    second = tickets.create_ticket(project.id, "second", blocked_by=[first.id])
    assert tickets.get(second.id).open_blockers == 1
    for phase in ["PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION", "PHASE_TESTING",
                  "PHASE_DEPLOYMENT", "PHASE_DONE"]:
        tickets.transition(first.id, phase)
    assert tickets.get(second.id).open_blockers == 0


def test_wip_limit_refuses_then_force_is_recorded(uow, project):
    tickets = TicketService(uow)
    board = BoardService(uow)
    ids = [tickets.create_ticket(project.id, f"t{i}").id for i in range(4)]
    for tid in ids[:3]:
        board.move_ticket(tid, "analyzing")
    for tid in ids[:3]:
        for phase in ["PHASE_DESIGN", "PHASE_IMPLEMENTATION", "PHASE_TESTING", "PHASE_DEPLOYMENT"]:
            tickets.transition(tid, phase)
    # deploying has a WIP limit of 3
    tickets.transition(ids[3], "PHASE_REQUIREMENTS")
    for phase in ["PHASE_DESIGN", "PHASE_IMPLEMENTATION", "PHASE_TESTING"]:
        tickets.transition(ids[3], phase)
    with pytest.raises(WipLimitReached) as info:
        board.move_ticket(ids[3], "deploying")
    assert "3/3" in str(info.value)
    assert tickets.get(ids[3]).phase_id == "PHASE_TESTING"
    moved = board.move_ticket(ids[3], "deploying", force=True)
    assert moved.phase_id == "PHASE_DEPLOYMENT"
    assert tickets.history(ids[3])[-1].forced is True
    columns = {c.id: c for c in board.board(project.id)}
    assert columns["deploying"].wip_use == 4


def test_a_reopened_ticket_is_no_longer_completed(uow):
    """A free-form workflow lets a finished ticket go back: reopened, it is unfinished again, so nothing
    that waits for finished tickets (the cleanup of their worktrees) takes it for one."""
    WorkflowService(uow).save_document(load_workflow_data({"name": "reopenable", "mode": "free_form", "phases": [
        {"id": "PHASE_WORK", "sequence_order": 0},
        {"id": "PHASE_DONE", "sequence_order": 1, "is_terminal": True}]}))
    project = ProjectService(uow).create_project("reopen", workflow="reopenable")
    tickets = TicketService(uow)
    ticket = tickets.create_ticket(project.id, "again")

    def completed_at():
        with uow:
            return uow.session.get(Ticket, ticket.id).completed_at

    tickets.transition(ticket.id, "PHASE_DONE")
    assert completed_at() is not None
    tickets.transition(ticket.id, "PHASE_WORK", reason="the bug came back")
    assert completed_at() is None
