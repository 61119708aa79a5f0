"""`phaseloom run --workers 4 --validators 1` on PostgreSQL, with agents that report over MCP.

The reliability review's run crashed here 3 times out of 3 within 9 s (an artifact recorded by the
loop and an agent's thread at once). 30 tickets, one task each, a fresh database and git repository:
every ticket must reach DONE and every task be completed once, by its agent's own complete_task.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from phaseloom.db.models import SystemEvent, Task, Ticket
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.runtimes.agent_e2e import make_project

pytestmark = pytest.mark.slow
TICKETS = 30
AGENT = Path(__file__).with_name("mcp_agent.py")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # emptied, so no earlier test's rows
def test_thirty_tickets_four_workers_and_a_validator_on_postgresql(db_url, tmp_path):
    project = make_project(tmp_path / "p", url=db_url, title="ticket 1")
    db = project.database()
    try:
        for n in range(2, TICKETS + 1):
            TicketService(UnitOfWork(db)).create_ticket("demo", f"ticket {n}")
        proc = project.phaseloom("run", "--agent-command", f"{sys.executable} {AGENT}", "--workers", "4",
                                 "--validators", "1", "--until-idle", "--max-seconds", "400", "--quiet",
                                 timeout=460)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        with UnitOfWork(db, readonly=True) as uow:
            phases = uow.session.scalars(select(Ticket.phase_id)).all()
            tasks = uow.session.scalars(select(Task).order_by(Task.id)).all()
            completions = dict(uow.session.execute(
                select(SystemEvent.entity_id, func.count()).where(SystemEvent.event_type == "task.completed")
                .group_by(SystemEvent.entity_id)).all())
            failures = uow.session.scalar(select(func.count()).select_from(SystemEvent).where(
                SystemEvent.event_type.in_(["task.failed", "ticket.progress_failed", "workspace.merge_failed"])))
        assert phases == ["PHASE_DONE"] * TICKETS
        assert len(tasks) == TICKETS and failures == 0
        for task in tasks:
            assert (task.status, task.retry_count) == ("completed", 0), task.id
            assert task.result["summary"] == f"wrote hello.txt for task {task.id}"  # the agent's own words
            assert completions.get(str(task.id)) == 1, task.id
            assert project.ticket_file("hello.txt", task.ticket_id) == f"hello from task {task.id}\n"
    finally:
        db.dispose()
