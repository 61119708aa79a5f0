"""Soak: many tickets through a four-phase scripted workflow with real worker processes.

    python bench/soak.py                                   # 1,000 tickets: PostgreSQL x4 workers, SQLite x1
    python bench/soak.py --tickets 100 --backend postgresql

One orchestrator (this process: reaping leases, checking gates, moving tickets on) and N worker
processes (``tests/faults/fault_worker.py``: the ``phaseloom worker`` loop with scripted agents and
a short poll). It then asserts that every ticket is DONE, that every task ran exactly once plus its
recorded retries, that the outbox holds every state change and, replayed through
``GET /api/events?since=``, is exactly the table; and it prints tickets per minute, claim latency
(p50/p99 of the claim statement, see :func:`claim_timings_ms`) and the median time a task waited
in the queue.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from sqlalchemy import create_engine, select, text  # noqa: E402

from phaseloom.db.engine import Database  # noqa: E402
from phaseloom.db.models import SystemEvent, Task  # noqa: E402
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig  # noqa: E402
from phaseloom.services.auth import AuthService  # noqa: E402
from phaseloom.db.unit_of_work import UnitOfWork  # noqa: E402
from tests.api.live_server import free_port  # noqa: E402
from tests.faults.checks import assert_outbox_consistent, assert_work_accounted_for, replay_events  # noqa: E402
from tests.faults.support import Processes, prepare, tickets_done  # noqa: E402

PG_ADMIN_URL = os.environ.get("PHASELOOM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass
class SoakResult:
    backend: str
    workers: int
    tickets: int
    tasks: int
    retries: int
    seconds: float
    claim_p50_ms: float
    claim_p99_ms: float
    wait_p50_ms: float
    events: int

    @property
    def tickets_per_minute(self) -> float:
        return self.tickets / self.seconds * 60

    def line(self) -> str:
        return (f"{self.backend:<10} workers={self.workers} tickets={self.tickets} tasks={self.tasks} "
                f"retries={self.retries} events={self.events} time={self.seconds:.1f}s "
                f"tickets/min={self.tickets_per_minute:.0f} claim p50={self.claim_p50_ms:.1f}ms "
                f"p99={self.claim_p99_ms:.1f}ms queue wait p50={self.wait_p50_ms / 1000:.1f}s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def fresh_database(backend: str, folder: Path) -> tuple[str, callable]:
    """A new empty database URL and a function dropping it."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'soak.db'}", lambda: None
    name = f"phaseloom_soak_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop


def claim_timings_ms(db: Database) -> tuple[list[float], list[float]]:
    """Per first claim: (how long the claim statement took, how long the task waited in the queue).

    The claim stamps ``claimed_at`` just before its ``UPDATE … RETURNING`` and writes the
    ``task.assigned`` event (``created_at``) just after it, in the same transaction (on
    PostgreSQL in the same statement, stamped with the database's clock at the insert), so
    their difference is the claim itself; the wait is ``claimed_at`` minus the task's creation.
    """
    with UnitOfWork(db, readonly=True) as uow:
        assigned = dict(uow.session.execute(select(SystemEvent.entity_id, SystemEvent.created_at)
                                            .where(SystemEvent.event_type == "task.assigned")
                                            .order_by(SystemEvent.id.desc())).all())
        rows = uow.session.execute(select(Task.id, Task.created_at, Task.claimed_at)
                                   .where(Task.retry_count == 0)).all()
    claims = [(assigned[str(r.id)] - r.claimed_at).total_seconds() * 1000 for r in rows if str(r.id) in assigned]
    waits = [(r.claimed_at - r.created_at).total_seconds() * 1000 for r in rows if r.claimed_at is not None]
    return claims, waits


def soak(backend: str, tickets: int, workers: int, *, timeout: float, quiet: bool = False,
         memory_semantic: bool = False) -> SoakResult:
    folder = Path(tempfile.mkdtemp(prefix=f"phaseloom-soak-{backend}-"))
    url, drop = fresh_database(backend, folder)
    db = Database.connect(url)
    procs = Processes(folder, {"PHASELOOM_MEMORY_SEMANTIC": str(memory_semantic).lower()})
    try:
        prepare(db, folder, tickets, project="soak")
        token = AuthService(UnitOfWork(db)).create_admin_token()
        started = time.monotonic()
        for n in range(workers):
            procs.worker(f"worker{n}", url, "--lease", "120", "--poll", "0.05", "--home", str(folder))
        config = OrchestratorConfig(pools=(), poll_seconds=0.05, diagnose_every_seconds=0,
                                    workspace_root=folder / "workspaces", log_dir=folder / "logs")
        deadline = started + timeout
        last_report = started

        def finished() -> bool:
            nonlocal last_report
            done, total = tickets_done(db)
            if not quiet and time.monotonic() - last_report > 10:
                print(f"  {backend}: {done}/{total} tickets done after {time.monotonic() - started:.0f}s", flush=True)
                last_report = time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{backend}: only {done}/{total} tickets DONE after {timeout:.0f}s")
            return done == total

        Orchestrator(db, lambda spec: None, config).run(until=finished)
        seconds = time.monotonic() - started
        exits = [procs.stop(f"worker{n}") for n in range(workers)]
        assert exits == [0] * workers, {n: procs.log(f"worker{n}")[-1000:] for n in range(workers)}
        port = free_port()
        procs.serve("serve", url, port)
        replayed = replay_events(f"http://127.0.0.1:{port}", token)
        runs = assert_work_accounted_for(db)
        assert_outbox_consistent(db, replayed)
        with UnitOfWork(db, readonly=True) as uow:
            ids = list(uow.session.scalars(select(SystemEvent.id).order_by(SystemEvent.id)))
        gaps = [(a, b) for a, b in zip(ids, ids[1:]) if b != a + 1]
        assert not gaps, f"outbox ids have gaps: {gaps[:10]}"
        claims, waits = claim_timings_ms(db)
        return SoakResult(backend, workers, tickets, len(runs), sum(r[1] for r in runs.values()), seconds,
                          percentile(claims, 0.5), percentile(claims, 0.99), statistics.median(waits), len(ids))
    finally:
        procs.close()
        db.dispose()
        drop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--pg-workers", type=int, default=4)
    parser.add_argument("--sqlite-workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--memory-semantic", action="store_true",
                        help="let agents' instructions embed a memory query per task (off: keyword memory only)")
    args = parser.parse_args()
    plan = [("postgresql", args.pg_workers), ("sqlite", args.sqlite_workers)]
    for backend, workers in plan:
        if args.backend in (backend, "both"):
            print(soak(backend, args.tickets, workers, timeout=args.timeout,
                       memory_semantic=args.memory_semantic).line(), flush=True)
    print("all tickets DONE; every task ran once plus its recorded retries; outbox gapless and fully replayed")


if __name__ == "__main__":
    main()
