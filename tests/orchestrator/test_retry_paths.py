"""A failed attempt's retry declares the files that attempt changed (real git, the real orchestrator loop)."""

from __future__ import annotations

import pytest

from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
from phaseloom.queue import QueueService
from phaseloom.runtimes.base import RunOutcome
from phaseloom.services.tickets import TicketService
from tests.orchestrator.test_loop import _project_on_a_repo


class _FailingEditor:
    """Edits two files, then fails; notes the paths its task had declared when each attempt began."""

    name = "editor"
    reports_via_mcp = False

    def __init__(self, db) -> None:
        self.db, self.seen = db, []

    def run(self, assignment):
        queue = QueueService(UnitOfWork(self.db))
        self.seen.append(queue.path_facts([queue.get(assignment.task_id)])[assignment.task_id]["paths"])
        (assignment.workdir / "src" / "auth").mkdir(parents=True, exist_ok=True)
        (assignment.workdir / "src" / "auth" / "login.py").write_text(f"attempt {len(self.seen)}\n")
        (assignment.workdir / "README.md").write_text("edited\n")
        return RunOutcome(False, error="the tests still fail")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_retry_of_a_failed_attempt_declares_the_files_it_changed(db, uow, project, tmp_path):
    _project_on_a_repo(db, project, tmp_path)
    ticket = TicketService(uow).create_ticket(project.id, "retry paths")
    TicketService(uow).transition(ticket.id, "PHASE_REQUIREMENTS")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "edit login", max_retries=1,
                                         paths=["docs/**"])
    agent = _FailingEditor(db)
    config = OrchestratorConfig(pools=(PoolSpec("w", size=1, runtime="command"),), check_mcp=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    Orchestrator(db, lambda spec: agent, config).run(
        until=lambda: QueueService(UnitOfWork(db)).get(task.id).status == "failed", max_seconds=60)

    assert QueueService(uow).get(task.id).status == "failed"
    inherited = ["docs/**", "README.md", "src/auth/login.py"]
    assert agent.seen == [["docs/**"], sorted(inherited)]
    assert QueueService(uow).get(task.id).path_count == 3
