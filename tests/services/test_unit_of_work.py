"""The unit of work's one-statement transactions (``driver_rows`` outside a block).

On PostgreSQL the queue's claim and completion run as transactions of their own when no
caller's transaction is open, and join the caller's transaction when one is.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from phaseloom.db.models import SystemEvent, Task
from phaseloom.services.agents import AgentService
from phaseloom.services.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.services.unit_of_work import UnitOfWork

postgresql_only = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "ticket")


def _status_and_events(db, task_id: int) -> tuple[str, int]:
    with db.sessions() as session:
        status = session.scalar(select(Task.status).where(Task.id == task_id))
        events = session.scalar(select(func.count()).select_from(SystemEvent)
                                .where(SystemEvent.entity_type == "task", SystemEvent.entity_id == str(task_id),
                                       SystemEvent.event_type.in_(["task.assigned", "task.completed"])))
    return status, events


def test_claim_and_completion_outside_a_block_commit_and_deliver_their_events(db, uow, ticket):
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_DESIGN", "work")
    agent = AgentService(uow).register_agent("a1")
    delivered: list[dict] = []
    uow.after_commit.append(delivered.extend)

    claimed = queue.claim_next_task(agent.id)
    assert claimed.id == task.id and claimed.status == "claimed" and claimed.assigned_agent_id == agent.id
    assert _status_and_events(db, task.id) == ("claimed", 1)
    completed = queue.complete_task(task.id, agent.id, {"ok": True})
    assert completed.status == "completed" and completed.result == {"ok": True}
    assert _status_and_events(db, task.id) == ("completed", 2)
    assert [(e["event_type"], e["entity_id"]) for e in delivered] == [
        ("task.assigned", str(task.id)), ("task.completed", str(task.id))]
    assert delivered[0]["id"] < delivered[1]["id"]


def test_claim_inside_a_callers_block_is_undone_with_it(db, uow, ticket):
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_DESIGN", "work")
    agent = AgentService(uow).register_agent("a1")
    delivered: list[dict] = []
    uow.after_commit.append(delivered.extend)

    with pytest.raises(RuntimeError, match="caller failed"):
        with uow:
            assert queue.claim_next_task(agent.id).id == task.id
            raise RuntimeError("caller failed")
    assert _status_and_events(db, task.id) == ("pending", 0)
    assert delivered == []
    with uow:
        claimed = queue.claim_next_task(agent.id)
        assert delivered == []  # delivered only once the caller's block commits
    assert claimed.id == task.id
    assert [e["event_type"] for e in delivered] == ["task.assigned"]


@postgresql_only
def test_a_failed_statement_leaves_the_pooled_connection_transactional(db, ticket):
    uow = UnitOfWork(db)
    with pytest.raises(Exception, match="division by zero"):
        uow.driver_rows("SELECT 1 / 0", {})
    # The pool lends the same connection again: it must not still be in autocommit mode, or
    # this block's first statement would commit on its own and survive the rollback.
    with pytest.raises(RuntimeError):
        with uow:
            TicketService(uow).create_ticket(ticket.project_id, "must vanish")
            assert uow.session.connection().connection.driver_connection.autocommit is False
            raise RuntimeError("roll back")
    titles = [t.title for t in TicketService(UnitOfWork(db)).list(ticket.project_id)]
    assert titles == ["ticket"]


@postgresql_only
def test_a_statement_on_its_own_returns_its_rows(db):
    assert UnitOfWork(db).driver_rows("SELECT %(n)s::int + 1", {"n": 41}) == [(42,)]


def test_a_statement_on_its_own_is_refused_on_sqlite(tmp_path):
    from phaseloom.db.engine import Database

    uow = UnitOfWork(Database.connect(f"sqlite:///{tmp_path}/x.db"))
    with pytest.raises(RuntimeError, match="only on PostgreSQL"):
        uow.driver_rows("SELECT 1", {})
