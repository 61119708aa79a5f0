"""The unit of work's one-statement transactions (``driver_rows`` outside a block).

On PostgreSQL the queue's claim and completion run as transactions of their own when no
caller's transaction is open, and join the caller's transaction when one is.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from phaseloom.db.models import SystemEvent, Task, Ticket
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork

postgresql_only = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "ticket")


@pytest.fixture
def work(uow, ticket):
    """A queue with one pending task, an agent, and the events delivered to this unit of work."""
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_DESIGN", "work")
    agent = AgentService(uow).register_agent("a1")
    delivered: list[dict] = []
    uow.after_commit.append(delivered.extend)
    return queue, task, agent, delivered


def _status_and_events(db, task_id: int) -> tuple[str, int]:
    with db.sessions() as session:
        status = session.scalar(select(Task.status).where(Task.id == task_id))
        events = session.scalar(select(func.count()).select_from(SystemEvent)
                                .where(SystemEvent.entity_type == "task", SystemEvent.entity_id == str(task_id),
                                       SystemEvent.event_type.in_(["task.assigned", "task.completed"])))
    return status, events


def test_claim_and_completion_outside_a_block_commit_and_deliver_their_events(db, work):
    queue, task, agent, delivered = work

    claimed = queue.claim_next_task(agent.id)
    assert claimed.id == task.id and claimed.status == "claimed" and claimed.assigned_agent_id == agent.id
    assert _status_and_events(db, task.id) == ("claimed", 1)
    completed = queue.complete_task(task.id, agent.id, {"ok": True})
    assert completed.status == "completed" and completed.result == {"ok": True}
    assert _status_and_events(db, task.id) == ("completed", 2)
    assert [(e["event_type"], e["entity_id"]) for e in delivered] == [
        ("task.assigned", str(task.id)), ("task.completed", str(task.id))]
    assert delivered[0]["id"] < delivered[1]["id"]


def test_claim_inside_a_callers_block_is_undone_with_it(db, uow, work):
    queue, task, agent, delivered = work

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
def test_a_failed_statement_on_its_own_changes_nothing_and_the_next_one_runs(db, ticket):
    uow = UnitOfWork(db)
    with pytest.raises(Exception, match="division by zero"):
        uow.driver_rows("UPDATE tickets SET title = 'changed' WHERE id = %(id)s RETURNING 1 / 0", {"id": ticket.id})
    assert TicketService(uow).get(ticket.id).title == "ticket"
    assert uow.driver_rows("SELECT title FROM tickets WHERE id = %(id)s", {"id": ticket.id}) == [("ticket",)]


@postgresql_only
def test_a_statement_on_its_own_returns_its_rows(db):
    assert UnitOfWork(db).driver_rows("SELECT %(n)s::int + 1", {"n": 41}) == [(42,)]


def test_a_statement_on_its_own_is_refused_on_sqlite(tmp_path):
    from phaseloom.db.engine import Database

    uow = UnitOfWork(Database.connect(f"sqlite:///{tmp_path}/x.db"))
    with pytest.raises(RuntimeError, match="only on PostgreSQL"):
        uow.driver_rows("SELECT 1", {})


def test_a_task_a_statement_returned_is_a_detached_loaded_instance(uow, ticket, work):
    from sqlalchemy import inspect

    queue, task, agent, _ = work
    claimed = queue.claim_next_task(agent.id)
    state = inspect(claimed)
    assert state.detached and not state.unloaded  # every column loaded, nothing to lazy-load
    # Its identity is known: adding it to a later transaction updates the row, never inserts it.
    with uow:
        uow.session.add(claimed)
        claimed.title = "renamed"
    assert queue.get(task.id).title == "renamed"
    assert len(queue.list(ticket_id=ticket.id)) == 1
    # adopt_task relies on this: a relationship would need loading (or expiring) like the ORM does.
    assert not inspect(Task).relationships


def test_a_failed_savepoint_undoes_its_writes_and_events_and_the_block_goes_on(uow, ticket):
    tickets = TicketService(uow)
    with uow:
        uow.emit("kept.before", "ticket", ticket.id)
        with pytest.raises(RuntimeError), uow.savepoint():
            uow.session.get(Ticket, ticket.id).title = "undone"
            uow.emit("dropped", "ticket", ticket.id)
            raise RuntimeError("refused")
        uow.emit("kept.after", "ticket", ticket.id)
    with uow:
        types = uow.session.scalars(select(SystemEvent.event_type).where(
            SystemEvent.entity_id == str(ticket.id), SystemEvent.event_type.in_(["kept.before", "dropped",
                                                                                 "kept.after"]))).all()
    assert sorted(types) == ["kept.after", "kept.before"]
    assert tickets.get(ticket.id).title == "ticket"


def test_a_unit_runs_with_its_own_settings_else_its_databases_built_once_when_first_asked(db_url):
    from phaseloom.config import Settings
    from phaseloom.db.engine import Database

    built = []
    database = Database.connect(db_url, settings=lambda: built.append(1) or Settings(aging_seconds=7.0))
    try:
        assert built == []  # nothing builds the settings until the work needs them
        assert UnitOfWork(database).settings.aging_seconds == 7.0
        assert UnitOfWork(database, readonly=True).settings is database.settings and built == [1]
        own = Settings(aging_seconds=9.0)
        assert UnitOfWork(database, settings=own).settings is own
    finally:
        database.dispose()


def test_the_queue_scores_a_task_with_the_settings_of_its_unit_of_work(db, project, ticket):
    from phaseloom.config import Settings
    from phaseloom.domain.priorities import Priority, claim_score

    for aging in (60.0, 600.0):
        queue = QueueService(UnitOfWork(db, settings=Settings(aging_seconds=aging)))
        task = queue.create_task(ticket.id, ticket.phase_id, f"aged by {aging}")
        assert task.score == pytest.approx(claim_score(Priority(task.priority), task.created_at.timestamp(), aging))


def test_the_autocommit_fast_path_is_named(uow):
    assert uow.autocommits == (uow.backend == "postgresql")
    with uow:
        assert not uow.autocommits  # inside a block a statement joins the block's transaction
