"""The CLI's sqlite3 reads give what the services give, on the same database."""

from __future__ import annotations

import sqlite3

import pytest

from phaseloom.config import get_settings
from phaseloom.db.quick_reads import QuickReader, sqlite_path
from phaseloom.domain.errors import NotFound
from phaseloom.schemas.api.tasks import TaskOut
from phaseloom.services.board import BoardService
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.services.ticket_views import board_columns, ticket_view
from phaseloom.services.tickets import TicketService
from phaseloom.services.workflows import WorkflowService

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # they read SQLite files only


@pytest.fixture
def filled(uow, project):
    """Three tickets (one blocked, one HIGH) and a task with a capability."""
    tickets = TicketService(uow)
    first = tickets.create_ticket("demo", "first", description="the first one")
    tickets.create_ticket("demo", "second", priority="HIGH")
    tickets.block(tickets.create_ticket("demo", "third").id, "waiting for a vendor")
    QueueService(uow, get_settings()).create_task(first.id, first.phase_id, "a task", required_capabilities=["python"])
    return project


@pytest.fixture
def reader(db, filled):
    reader = QuickReader.open(db.url)
    assert reader is not None
    yield reader
    reader.close()


def test_tickets_and_a_ticket_read_as_the_service_reads_them(uow, reader, filled):
    views = [ticket_view(row, reader.workflow(row.workflow_id)) for row in reader.tickets(filled.id)]
    assert views == TicketService(uow).list(filled.id)
    assert [v.status for v in views] == ["backlog", "backlog", "blocked"]
    high = reader.tickets(filled.id, priority="high")
    assert [t.title for t in high] == ["second"]
    assert ticket_view(reader.ticket(1), reader.workflow(filled.workflow_id)) == TicketService(uow).get(1)
    with pytest.raises(NotFound):
        reader.ticket(99)


def test_workflow_projects_board_and_tasks_read_as_the_services_read_them(uow, reader, filled):
    workflow = reader.workflow(filled.workflow_id)
    assert workflow == WorkflowService(uow).by_id(filled.workflow_id)
    assert reader.projects() == ProjectService(uow).list()
    assert reader.project("demo").id == reader.project(str(filled.id)).id == filled.id
    with pytest.raises(NotFound):
        reader.project("nope")
    views = [ticket_view(row, workflow) for row in reader.tickets(filled.id)]
    assert board_columns(workflow, views) == BoardService(uow).board("demo")
    quick_tasks = [TaskOut.model_validate(t).model_dump(mode="json") for t in reader.tasks(ticket_id=1)]
    service_tasks = [TaskOut.model_validate(t).model_dump(mode="json") for t in QueueService(uow, get_settings()).list(ticket_id=1)]
    assert quick_tasks == service_tasks and quick_tasks[0]["required_capabilities"] == ["python"]


def test_only_a_current_sqlite_file_gets_a_reader(db, filled, tmp_path):
    assert sqlite_path("postgresql+psycopg://u@h/db") is None
    assert sqlite_path("sqlite:///:memory:") is None and sqlite_path("sqlite:///x.db?timeout=3") is None
    assert QuickReader.open(f"sqlite:///{tmp_path}/missing.db") is None
    with sqlite3.connect(sqlite_path(db.url)) as connection:  # a database an upgrade behind
        connection.execute("DELETE FROM alembic_version WHERE rowid = (SELECT min(rowid) FROM alembic_version)")
    assert QuickReader.open(db.url) is None


def test_history_task_workflows_and_agents_read_as_the_services_read_them(uow, reader, filled):
    from phaseloom.schemas.api.tickets import HistoryOut
    from phaseloom.services.agents import AgentService

    def shapes(model, rows):
        return [model.model_validate(row).model_dump(mode="json") for row in rows]

    assert shapes(HistoryOut, reader.history(3)) == shapes(HistoryOut, TicketService(uow).history(3))
    assert [h.to_status for h in reader.history(3)] == ["backlog", "blocked"]
    assert shapes(TaskOut, [reader.task(1)]) == shapes(TaskOut, [QueueService(uow, get_settings()).get(1)])
    assert reader.workflow_named("software_development") == reader.workflow_named(str(filled.workflow_id)) \
        == WorkflowService(uow).get("software_development")
    assert reader.workflows() == WorkflowService(uow).list()
    for missing in (lambda: reader.history(99), lambda: reader.task(99), lambda: reader.workflow_named("nope")):
        with pytest.raises(NotFound):
            missing()
    agents = AgentService(uow)
    worker = agents.register_agent("w1", capabilities=["python"])
    agents.register_agent("w2")
    assert QueueService(uow, get_settings()).claim_next_task(worker.id).id == 1
    assert [(a.id, a.capacity, a.last_heartbeat_at) for a in reader.agents()] \
        == [(a.id, a.capacity, a.last_heartbeat_at) for a in agents.list()]
    assert reader.agent_loads() == {worker.id: 1} == {h.agent_id: h.active_tasks for h in agents.health_report()
                                                       if h.active_tasks}
