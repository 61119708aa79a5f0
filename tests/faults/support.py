"""What the fault tests share: a four-phase workflow, a private PostgreSQL cluster, and process handling.

The private cluster lives in a temporary folder on a free port, so stopping and restarting it
never disturbs the shared server other tests use. Every process and cluster started here is
tracked and torn down by :class:`Processes` / :meth:`PrivateCluster.destroy`, even on failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from phaseloom.db.engine import Database
from phaseloom.db.migrate import upgrade
from phaseloom.db.models import SystemEvent, Task, Ticket
from phaseloom.db.models.workflows import PhaseRow
from phaseloom.loaders.sources import load_workflow_source
from phaseloom.services.projects import ProjectService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService
from tests.api.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
PHASES = ("PHASE_PLAN", "PHASE_BUILD", "PHASE_CHECK", "PHASE_SHIP")


def workflow_text(phases: int = len(PHASES)) -> str:
    """The fault tests' workflow: the first ``phases`` of :data:`PHASES` in a row, then DONE."""
    chosen = (*PHASES[:phases], "PHASE_DONE")
    steps = "".join(f"  - id: {phase}\n    sequence_order: {n}\n    allowed_transitions: [{chosen[n + 1]}]\n"
                    "    configuration: {max_retries: 5, retry_backoff: {base_seconds: 0.2, cap_seconds: 1}}\n"
                    for n, phase in enumerate(chosen[:-1]))
    return f"name: faults\nphases:\n{steps}  - id: PHASE_DONE\n    sequence_order: {phases}\n    is_terminal: true\n"


def prepare(db: Database, tmp: Path, tickets: int, project: str = "faults", repo: Path | None = None,
            phases: int = len(PHASES)) -> list[int]:
    """Migrate, load the workflow of ``phases`` phases, create a project (on the git repository ``repo``,
    if given: each task then works in a worktree and is merged into its ticket's branch) and
    ``tickets`` tickets; return their ids."""
    upgrade(db.engine)
    (tmp / "faults.yaml").write_text(workflow_text(phases))
    uow = UnitOfWork(db)
    WorkflowService(uow).save_document(load_workflow_source(tmp / "faults.yaml"))
    ProjectService(uow).create_project(project, "faults", repo_path=str(repo) if repo else "")
    return [TicketService(uow).create_ticket(project, f"ticket {n}").id for n in range(tickets)]


def phase_count(db: Database) -> int:
    """How many phases (not counting DONE) each ticket goes through: one task each."""
    with UnitOfWork(db, readonly=True) as uow:
        return uow.session.scalar(select(func.count()).select_from(PhaseRow).where(PhaseRow.is_terminal.is_(False)))


def tickets_done(db: Database) -> tuple[int, int]:
    with UnitOfWork(db, readonly=True) as uow:
        total = uow.session.scalar(select(func.count()).select_from(Ticket))
        done = uow.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.phase_id == "PHASE_DONE"))
    return done, total


def runs_per_task(db: Database) -> dict[int, tuple[int, int, str]]:
    """task id -> (times it was started, its retry count, its status)."""
    with UnitOfWork(db, readonly=True) as uow:
        started = dict(uow.session.execute(
            select(SystemEvent.entity_id, func.count()).where(SystemEvent.event_type == "task.started")
            .group_by(SystemEvent.entity_id)).all())
        tasks = uow.session.execute(select(Task.id, Task.retry_count, Task.status)).all()
    return {t.id: (started.get(str(t.id), 0), t.retry_count, t.status) for t in tasks}


def wait_for(condition, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class Processes:
    """Child processes with their output in files; :meth:`close` kills whatever is still running."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        # Semantic memory search embeds each task's query with a local model: seconds of import and
        # CPU per process that these tests, about the database and processes, do not need.
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PHASELOOM_MEMORY_SEMANTIC": "false", **(env or {})}
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], **env: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, env={**self.env, **env}, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def worker(self, name: str, url: str, *args: str) -> subprocess.Popen:
        return self.start(name, [sys.executable, "-m", "tests.faults.fault_worker", url, *args])

    def serve(self, name: str, url: str, port: int) -> subprocess.Popen:
        proc = self.start(name, [sys.executable, "-m", "phaseloom.cli.app", "serve", "--port", str(port)],
                          PHASELOOM_DATABASE_URL=url, PHASELOOM_HOME=str(self.folder), PHASELOOM_LOG_LEVEL="WARNING")
        wait_for(lambda: _healthy(proc, port, self.log(name)), 30, f"{name} to answer /api/health")
        return proc

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
        proc.wait(15)

    def stop(self, name: str) -> int:
        """SIGTERM, wait for a clean exit (SIGKILL after 20 s); returns the exit code."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill(name)
        return proc.returncode

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(15)


def _healthy(proc: subprocess.Popen, port: int, log: str) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"serve exited: {log[-2000:]}")
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PrivateCluster:
    """A throw-away PostgreSQL cluster (own data folder, own port) that a test may stop and start."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="phaseloom-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        # initdb refuses to run as root: the cluster belongs to the postgres user when we are root.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bindir / tool), *args], capture_output=True, text=True,
                              timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``fast`` disconnects every client at once, as a restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                        "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)
