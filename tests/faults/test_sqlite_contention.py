"""SQLite: several processes writing at once wait for the lock and succeed; "database is locked" never surfaces."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import func, select

from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent, Task, Ticket
from phaseloom.services.projects import ProjectService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService
from phaseloom.loaders.sources import load_workflow_source
from tests.api.conftest import TINY_WORKFLOW

WRITERS, ROUNDS = 3, 40


@pytest.fixture
def sqlite_db(sqlite_template, tmp_path):
    path = tmp_path / "contended.db"
    shutil.copy(sqlite_template, path)
    db = Database.connect(f"sqlite:///{path}")
    uow = UnitOfWork(db)
    (tmp_path / "tiny.yaml").write_text(TINY_WORKFLOW.replace(", wip_limit: 1", ""))  # no WIP cap here
    WorkflowService(uow).save_document(load_workflow_source(tmp_path / "tiny.yaml"))
    ProjectService(uow).create_project("p", "tiny")
    yield db
    db.dispose()


@pytest.mark.slow
def test_concurrent_writer_processes_all_succeed(sqlite_db):
    procs = [subprocess.Popen([sys.executable, "-m", "tests.faults.sqlite_writer", sqlite_db.url, f"w{i}",
                               str(ROUNDS)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(WRITERS)]
    try:
        outputs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert not [o for o in outputs if "locked" in o.lower()], outputs
    assert [p.returncode for p in procs] == [0] * WRITERS, outputs
    claims = sum(int(o.split()[-1]) for o in outputs)

    with UnitOfWork(sqlite_db) as uow:
        tickets = uow.session.scalar(select(func.count()).select_from(Ticket))
        statuses = Counter(uow.session.scalars(select(Task.status)))
        assigned = Counter(uow.session.scalars(select(SystemEvent.entity_id)
                                               .where(SystemEvent.event_type == "task.assigned")))
        ids = list(uow.session.scalars(select(SystemEvent.id).order_by(SystemEvent.id)))
        done = uow.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.phase_id == "PHASE_DONE"))
    assert tickets == WRITERS * ROUNDS and done == tickets
    assert claims == WRITERS * ROUNDS == statuses["completed"] and statuses == {"completed": claims}
    assert set(assigned.values()) == {1}  # no task claimed twice
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # the outbox has no gap
