"""Real git repositories and tickets for the merge queue tests: a ticket's branch with work on it,
finished through its last gate as the run loop would finish it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from phaseloom.db.models import Project
from phaseloom.services.progress import ProgressService
from phaseloom.services.projects import ProjectService
from phaseloom.services.tickets import TicketService
from tests.services.gate_support import finish_phase_tasks, save_workflow

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}

# The check: records the commit it ran on, then fails when a + b > 1 (each ticket alone adds 1).
CHECK = """\
import pathlib, subprocess, sys
head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
with open(sys.argv[1], "a") as log:
    log.write(head + "\\n")
if len(sys.argv) > 2 and not pathlib.Path(sys.argv[2] + ".done").exists():
    # A person lands a commit on main while the check runs (once).
    pathlib.Path(sys.argv[2] + ".done").write_text("")
    subprocess.run(["git", "-C", sys.argv[2], "-c", "user.name=person", "-c", "user.email=p@p", "commit",
                    "--allow-empty", "-q", "-m", "a person's commit"], check=True)
total = int(pathlib.Path("a.txt").read_text()) + int(pathlib.Path("b.txt").read_text())
if total > 1:
    print("checking the sum ...")
    print(f"FAILED: a + b = {total}, more than 1")
    sys.exit(3)
print("sum ok")
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=GIT_ENV).stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "a.txt").write_text("0\n")
    (path / "b.txt").write_text("0\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def commit_on(repo: Path, branch: str, files: dict[str, str], message: str = "work") -> str:
    """Commit ``files`` on ``branch`` (made from main when missing) in a worktree of its own."""
    where = repo.parent / f"edit-{branch.replace('/', '-')}"
    exists = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], cwd=repo,
                            capture_output=True).returncode == 0
    git(repo, "worktree", "add", "-q", *([str(where), branch] if exists else ["-b", branch, str(where), "main"]))
    for name, text in files.items():
        (where / name).write_text(text)
    git(where, "add", "-A")
    git(where, "commit", "-q", "-m", message)
    tip = git(where, "rev-parse", "HEAD").strip()
    git(repo, "worktree", "remove", "--force", str(where))
    return tip


def landing_workflow(check_argv: list[str], strategy: str = "merge") -> dict:
    return {"name": "landing", "phases": [
        {"id": "PHASE_IMPLEMENTATION", "sequence_order": 0, "allowed_transitions": ["PHASE_REVIEW"]},
        {"id": "PHASE_REVIEW", "sequence_order": 1, "allowed_transitions": ["PHASE_DONE"]},
        {"id": "PHASE_DONE", "sequence_order": 2, "is_terminal": True}],
        "settings": {"merge": {"into": "main", "check": [check_argv], "strategy": strategy, "timeout_seconds": 60}}}


def landing_project(uow, tmp_path: Path, *, strategy: str = "merge", person_moves_main: bool = False,
                    check_argv: list[str] | None = None):
    """A project on a fresh repository whose workflow lands finished tickets on main after the check."""
    repo = make_repo(tmp_path / "repo")
    check = tmp_path / "check.py"
    check.write_text(CHECK)
    log = tmp_path / "tested.log"
    argv = [sys.executable, str(check), str(log), *([str(repo)] if person_moves_main else [])]
    save_workflow(uow, landing_workflow(check_argv or argv, strategy))
    project = ProjectService(uow).create_project("landing-demo", "landing")
    with uow:
        uow.session.get(Project, project.id).repo_path = str(repo)
    return project, repo, log


def finished_ticket(uow, project, repo: Path, files: dict[str, str], title: str) -> tuple[int, str]:
    """A ticket with ``files`` committed on its branch, through its review gate: (its id, the gate's reason)."""
    ticket = TicketService(uow).create_ticket(project.id, title)
    commit_on(repo, f"ticket/{ticket.id}", files)
    TicketService(uow).transition(ticket.id, "PHASE_REVIEW", reason="test setup")
    ProgressService(uow).start_ticket(ticket.id)
    finish_phase_tasks(uow, ticket.id, "PHASE_REVIEW")
    outcome = ProgressService(uow).check_and_progress(ticket.id)
    return ticket.id, outcome.reason


def commits_checked(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def queue_moves_of_main(repo: Path) -> list[str]:
    """Every commit the merge queue moved main to, from main's reflog."""
    lines = git(repo, "reflog", "show", "--format=%H %gs", "refs/heads/main").splitlines()
    return [line.split()[0] for line in lines if "phaseloom merge queue" in line]
