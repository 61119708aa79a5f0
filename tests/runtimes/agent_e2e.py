"""The end-to-end harness for real agent CLIs: a project with a git repository, driven by plain ``phaseloom run``.

Nothing here stands in for phaseloom or for the CLI: :meth:`AgentProject.run` starts the ``phaseloom``
command as a user would, with the CLI found on PATH; only the model behind the CLI is the loopback
fake of ``tests/runtimes/fake_models``. The CLIs come from ``scripts/install-agent-clis`` (into
``.cache/agents``) or from PATH; without them these tests skip, and fail under
``PHASELOOM_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from phaseloom.db.engine import Database
from phaseloom.db.models import CostRecord, SystemEvent, Task
from tests.conftest import ROOT, service_unavailable

CACHE = ROOT / ".cache" / "agents"
BIN_DIRS = (CACHE / "npm" / "node_modules" / ".bin", CACHE / "aider" / "bin")
WORKFLOW = ROOT / "tests" / "data" / "agent_e2e.yaml"
READ_ONLY_WORKFLOW = ROOT / "tests" / "data" / "agent_e2e_read_only.yaml"


def agent_path() -> str:
    """PATH with the installed CLIs first, then the interpreter's folder (for ``phaseloom`` itself)."""
    dirs = [str(d) for d in BIN_DIRS if d.is_dir()] + [str(Path(sys.executable).parent)]
    return os.pathsep.join([*dirs, os.environ.get("PATH", "")])


def require_cli(program: str) -> str:
    """The CLI's path, or skip (fail in CI) saying how to install it."""
    found = shutil.which(program, path=agent_path())
    if not found:
        service_unavailable(f"agent CLI {program!r} not installed: run scripts/install-agent-clis")
    return found


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@dataclass
class AgentProject:
    """A folder with a phaseloom database (``url``), a git repository and one ticket, made with the CLI."""

    folder: Path
    url: str

    @property
    def repo(self) -> Path:
        return self.folder / "repo"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "CODEX_"))}
        return {**base, "PHASELOOM_DATABASE_URL": self.url, "PATH": agent_path(), "COLUMNS": "200",
                "HOME": str(self.folder / "home"), **(extra or {})}

    def phaseloom(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
                  check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "phaseloom.cli.app", *args], cwd=self.folder,
                              env=self.env(env), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"phaseloom {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def run(self, runtime: str, env: dict[str, str] | None = None, *extra: str,
            max_seconds: float = 240) -> subprocess.CompletedProcess:
        """``phaseloom run --runtime RUNTIME`` until nothing is left to do (or ``max_seconds``)."""
        return self.phaseloom("run", "--runtime", runtime, "--workers", "1", "--validators", "0", "--quiet",
                              "--until-idle", "--max-seconds", str(max_seconds), *extra, env=env,
                              timeout=max_seconds + 60, check=False)

    # -- reading what happened ------------------------------------------------------
    def database(self) -> Database:
        return Database.connect(self.url)

    def rows(self, statement) -> list:
        """The rows ``statement`` selects, detached from their session (read after the run, in a fresh one)."""
        db = self.database()
        try:
            with db.sessions() as session:
                rows = list(session.scalars(statement))
                session.expunge_all()
                return rows
        finally:
            db.dispose()

    def tasks(self) -> list[Task]:
        return self.rows(select(Task).order_by(Task.id))

    def costs(self) -> list[CostRecord]:
        return self.rows(select(CostRecord).order_by(CostRecord.id))

    def events(self, event_type: str) -> list[SystemEvent]:
        return self.rows(select(SystemEvent).where(SystemEvent.event_type == event_type).order_by(SystemEvent.id))

    def ticket_log(self, ticket_id: int = 1) -> list[str]:
        """Commit subjects on the ticket's integration branch, newest first."""
        return git(self.repo, "log", "--format=%s", f"ticket/{ticket_id}").splitlines()

    def ticket_file(self, path: str, ticket_id: int = 1) -> str:
        return git(self.repo, "show", f"ticket/{ticket_id}:{path}")


def make_project(folder: Path, *, url: str | None = None, title: str = "Create hello.txt saying hello",
                 workflow: Path = WORKFLOW) -> AgentProject:
    """The e2e workflow (or ``workflow``), a project on a fresh repository and one ticket (set up in-process:
    only ``run`` matters)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "home").mkdir(exist_ok=True)
    project = AgentProject(folder, url or f"sqlite:///{folder / 'phaseloom.db'}")
    repo = project.repo
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# demo\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "initial")
    _setup(project.url, repo, title, workflow)
    return project


def _setup(url: str, repo: Path, title: str, workflow: Path) -> None:
    from phaseloom.db.migrate import upgrade
    from phaseloom.loaders.sources import load_workflow_source
    from phaseloom.services.projects import ProjectService
    from phaseloom.services.tickets import TicketService
    from phaseloom.db.unit_of_work import UnitOfWork
    from phaseloom.services.workflows import WorkflowService

    db = Database.connect(url)
    try:
        upgrade(db.engine)
        document = load_workflow_source(workflow)
        WorkflowService(UnitOfWork(db)).save_document(document, source=str(workflow))
        ProjectService(UnitOfWork(db)).create_project("demo", document.name, repo_path=str(repo))
        TicketService(UnitOfWork(db)).create_ticket("demo", title)
    finally:
        db.dispose()


# -- what every CLI's end-to-end tests check alike ---------------------------------------------
def assert_completed_with_its_summary(project: AgentProject, proc: subprocess.CompletedProcess, summary: str) -> Task:
    """The task completed with the agent's own summary, and its file reached ``ticket/1`` under that subject."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [task] = project.tasks()
    assert task.status == "completed", (task.error, proc.stdout)
    assert task.result["summary"] == summary          # what the agent said (complete_task, or its reply)
    assert project.ticket_file("hello.txt") == "hello\n"
    assert summary in project.ticket_log()            # ... and the commit subject on ticket/1
    return task


def assert_not_completed_without_a_report(project: AgentProject, last_words: str) -> Task:
    """An MCP agent that exited without complete_task failed, with its last words as the evidence."""
    [task] = project.tasks()
    assert task.status != "completed"
    assert task.error.startswith("agent_did_not_report:")
    assert last_words in task.error
    assert task.retry_count == task.max_retries       # retried per the phase, then given up
    return task


def model_turns(server) -> list:
    """The model requests of the agent's own turns (those offering tools), not side calls such as titles."""
    return [r for r in server.model_requests() if r.body.get("tools")]

