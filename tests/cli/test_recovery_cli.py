"""``phaseloom task failed|retry``, ``diagnose`` and ``result`` as a user runs them (real subprocesses).

The set-up happens in-process on the same SQLite file; only the commands under test are spawned.
"""

from __future__ import annotations


import pytest

from phaseloom.db.engine import Database
from phaseloom.db.migrate import upgrade
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
from phaseloom.schemas.workflow import WorkflowDocument
from phaseloom.services.agents import AgentService
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService
from tests.cli.support import run

HUNT = {"name": "hunt", "mode": "free_form",
        "settings": {"has_result": True, "on_result_found": "stop_all", "result_criteria": "names the cause"},
        "phases": [{"id": "PHASE_SEARCH", "sequence_order": 0},
                   {"id": "PHASE_DONE", "sequence_order": 1, "is_terminal": True}]}


@pytest.fixture
def failed_task(tmp_path) -> int:
    """Projects ``demo`` (software_development, one ticket with a permanently failed task) and ``hunt``."""
    db = Database.connect(f"sqlite:///{tmp_path}/p.db")
    try:
        upgrade(db.engine)
        uow = UnitOfWork(db)
        workflows = WorkflowService(uow)
        workflows.save_document(load_workflow_source(shipped_workflow("software_development")))
        workflows.save_document(WorkflowDocument.model_validate(HUNT))
        demo = ProjectService(uow).create_project("demo")
        hunt = ProjectService(uow).create_project("hunt", "hunt")
        ticket = TicketService(uow).create_ticket(demo.id, "Fix the flaky tests")
        TicketService(uow).create_ticket(hunt.id, "find it")
        queue = QueueService(uow)
        task = queue.create_task(ticket.id, "PHASE_BACKLOG", "triage it")
        agent = AgentService(uow).register_agent("w")
        queue.claim_next_task(agent.id)
        queue.fail_task(task.id, agent.id, "permission denied: /srv")
        return task.id
    finally:
        db.dispose()


def test_dead_letters_retry_and_diagnose(tmp_path, failed_task):
    dead = run(tmp_path, "task", "failed").stdout
    assert f"{failed_task}" in dead and "permanent" in dead and "permission denied" in dead

    dry = run(tmp_path, "diagnose", "--dry-run", "--idle-seconds", "0", "--project", "demo").stdout
    assert "would diagnose" in dry and "idle" in dry
    first = run(tmp_path, "diagnose", "--idle-seconds", "0", "--project", "demo").stdout
    assert "diagnosed" in first and "PHASE_TESTING" in first  # "tests" points at the testing phase

    assert "pending again" in run(tmp_path, "task", "retry", str(failed_task)).stdout
    proc = run(tmp_path, "task", "retry", str(failed_task), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"error: task {failed_task} is pending; only failed or cancelled tasks "
                                   "can be retried")


def test_result_submit_and_list(tmp_path, failed_task):
    (tmp_path / "answer.md").write_text("# Cause\nthe cache\n")
    out = run(tmp_path, "result", "submit", "answer.md", "--project", "hunt", "-e", "profile.txt").stdout
    assert "result 1 submitted; validation task" in out
    assert "pending_validation" in run(tmp_path, "result", "list", "--project", "hunt").stdout
    refused = run(tmp_path, "result", "submit", "answer.md", "--project", "demo", check=False)
    assert refused.returncode == 2 and "does not declare has_result" in refused.stderr
