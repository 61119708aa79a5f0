"""write_artifact's use-case on real git worktrees and both databases: the declared output is written into
the worktree the orchestrator prepared; any other path, or a path leading out, is refused and writes nothing."""

from __future__ import annotations

import pytest

from phaseloom.db.models import Project
from phaseloom.domain.errors import Conflict, InvalidInput
from phaseloom.queue import QueueService
from phaseloom.services.agents import AgentService
from phaseloom.services.phase_outputs import PhaseOutputService
from phaseloom.services.tickets import TicketService
from phaseloom.workspaces import WorkspaceService
from tests.workspaces.test_workspaces import make_repo


@pytest.fixture
def design_task(uow, project, tmp_path):
    """A running PHASE_DESIGN task (read_only, declares design.md) with its worktree prepared: (task, agent, path)."""
    repo = make_repo(tmp_path / "repo")
    with uow:
        uow.session.get(Project, project.id).repo_path = str(repo)
    ticket = TicketService(uow).create_ticket(project.id, "Design the greeter")
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_DESIGN", "Write design.md")
    agent = AgentService(uow).register_agent("designer", agent_id="designer-1")
    queue.claim_next_task(agent.id)
    queue.start_task(task.id, agent.id)
    workspace = WorkspaceService(uow, root=tmp_path / "workspaces").prepare(task.id, agent.id)
    return task, agent, workspace.path


def test_the_declared_output_is_written_into_the_tasks_worktree(uow, design_task):
    task, agent, worktree = design_task
    written = PhaseOutputService(uow).write(agent.id, "design.md", "# Design\n")
    assert (written.task_id, written.path, written.pattern, written.bytes) == (task.id, "design.md", "design.md", 9)
    assert (worktree / "design.md").read_text() == "# Design\n"


@pytest.mark.parametrize("path", ["app.py", "src/design.md", "notes/design.md.bak"])
def test_an_undeclared_path_is_refused_naming_the_declared_outputs(uow, design_task, path):
    _, agent, worktree = design_task
    with pytest.raises(InvalidInput, match=r"is not an output phase PHASE_DESIGN declares \(its expected "
                                           r"outputs: design.md\); write_artifact writes only those"):
        PhaseOutputService(uow).write(agent.id, path, "x")
    assert (worktree / "app.py").read_text() == "VALUE = 1\n" and not (worktree / "src").exists()


@pytest.mark.parametrize("path", ["../design.md", "/tmp/design.md"])
def test_a_path_out_of_the_worktree_is_refused(uow, design_task, path):
    _, agent, worktree = design_task
    with pytest.raises(InvalidInput, match="relative to the workspace"):
        PhaseOutputService(uow).write(agent.id, path, "x")
    assert not (worktree.parent / "design.md").exists()


def test_an_agent_without_a_prepared_worktree_is_told_so(uow, design_task):
    task, agent, _ = design_task
    other = AgentService(uow).register_agent("other", agent_id="other-1")
    with uow:
        row = QueueService(uow).get(task.id)
        row.assigned_agent_id = other.id   # the task now held by an agent whose run prepared no worktree
    with pytest.raises(Conflict, match=f"task {task.id} has no worktree prepared for agent other-1"):
        PhaseOutputService(uow).write(other.id, "design.md", "x")
