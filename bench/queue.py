"""Task-queue benchmark: the one-statement claim against the reference design, same run.

    python bench/queue.py                                  # SQLite and PostgreSQL, 1k/10k/100k
    python bench/queue.py --backend sqlite --sizes 1000,10000

For each queue size it prints claim latency (p50/p99) and single-process claim+complete
throughput for phaseloom's claim and for the reference design (load every pending task, filter
and score each in Python, then a conditional UPDATE), and their ratio. On PostgreSQL it also runs
4 worker processes draining a queue through ``QueueService`` and through a bare SQL loop of the
same two steps (``UPDATE … FOR UPDATE SKIP LOCKED … RETURNING``, then ``UPDATE``), durable commits,
and through phaseloom's own two statements driven by bare psycopg (what its SQL alone costs).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder leads sys.path and "queue.py" would shadow the standard
# library's queue module (which psycopg and multiprocessing import).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone

from sqlalchemy import create_engine, insert, select, text, update

from phaseloom.db.engine import Database
from phaseloom.db.migrate import upgrade
from phaseloom.db.models import Task, Ticket
from phaseloom.db.models.base import utcnow
from phaseloom.domain.priorities import Priority, claim_score, effective_score
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.db.unit_of_work import UnitOfWork

PRIORITIES = list(Priority)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# -- set-up ------------------------------------------------------------------------------------
class Scratch:
    """A fresh, migrated database with a project, one ticket and one agent."""

    def __init__(self, backend: str, pg_admin: str) -> None:
        self.pg_admin, self.name = pg_admin, None
        if backend == "sqlite":
            self.url = f"sqlite:///{tempfile.mkdtemp(prefix='plbench-')}/bench.db"
        else:
            self.name = f"plbench_{uuid.uuid4().hex[:8]}"
            with create_engine(pg_admin, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = pg_admin.rsplit("/", 1)[0] + f"/{self.name}"
        self.db = Database.connect(self.url)
        upgrade(self.db.engine)
        self.uow = UnitOfWork(self.db)
        from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
        from phaseloom.services.projects import ProjectService
        from phaseloom.services.tickets import TicketService
        from phaseloom.services.workflows import WorkflowService

        WorkflowService(self.uow).save_document(load_workflow_source(shipped_workflow("software_development")))
        project = ProjectService(self.uow).create_project("bench", "software_development")
        self.ticket_id = TicketService(self.uow).create_ticket(project.id, "bench").id

    def agent(self, name: str) -> str:
        return AgentService(self.uow).register_agent(name).id

    def seed(self, count: int) -> None:
        """Bulk core inserts: varied priorities and ages, about a tenth needing a capability."""
        with self.db.engine.connect() as conn:
            ticket = conn.execute(select(Ticket).where(Ticket.id == self.ticket_id)).one()
        now = utcnow()
        base = dict(ticket_id=ticket.id, project_id=ticket.project_id, workflow_id=ticket.workflow_id,
                    phase_id="PHASE_IMPLEMENTATION", title="bench task", created_at=now, next_attempt_at=now)
        with self.db.engine.begin() as conn:
            for start in range(0, count, 10_000):
                rows = []
                for n in range(start, min(start + 10_000, count)):
                    priority = PRIORITIES[n % 4]
                    caps = ["gpu"] if n % 10 == 0 else []
                    rows.append(dict(base, priority=priority.value, score=claim_score(priority, now.timestamp() - n % 7200),
                                     required_capabilities=caps, capability_count=len(caps)))
                conn.execute(insert(Task), rows)
            if self.db.backend == "postgresql":
                conn.exec_driver_sql("ANALYZE tasks")

    def close(self) -> None:
        self.db.dispose()
        if self.name:
            with create_engine(self.pg_admin, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


# -- the reference design: scan the queue in Python --------------------------------------------
def reference_claim(db: Database, agent_id: str, capabilities: set[str]) -> int | None:
    with db.sessions() as session, session.begin():
        now = utcnow()
        pending = session.scalars(select(Task).where(Task.status == "pending")).all()
        ready = [t for t in pending if aware(t.next_attempt_at) <= now and t.unmet_dependencies == 0
                 and set(t.required_capabilities or []) <= capabilities]
        if not ready:
            return None
        best = max(ready, key=lambda t: effective_score(Priority(t.priority), aware(t.created_at).timestamp(),
                                                        now.timestamp()))
        done = session.execute(update(Task).where(Task.id == best.id, Task.status == "pending")
                               .values(status="claimed", assigned_agent_id=agent_id, claimed_at=now)
                               .execution_options(synchronize_session=False))
        return best.id if done.rowcount == 1 else None


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def reference_complete(db: Database, task_id: int) -> None:
    with db.sessions() as session, session.begin():
        session.execute(update(Task).where(Task.id == task_id).values(status="completed", completed_at=utcnow())
                        .execution_options(synchronize_session=False))


# -- measuring ---------------------------------------------------------------------------------
def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_size(backend: str, size: int, args) -> dict:
    scratch = Scratch(backend, args.pg_admin)
    try:
        ref_claims = max(3, min(args.claims, args.baseline_budget // max(size, 1)))
        # Headroom so the queue stays at about ``size`` pending while both designs drain it.
        scratch.seed(size + 2 * (args.claims + ref_claims))
        ours_agent, ref_agent = scratch.agent("ours"), scratch.agent("reference")
        queue = QueueService(scratch.uow)
        ours = timed(lambda: queue.claim_next_task(ours_agent), args.claims)
        ref = timed(lambda: reference_claim(scratch.db, ref_agent, set()), ref_claims)

        def ours_cycle():
            task = queue.claim_next_task(ours_agent)
            queue.complete_task(task.id, ours_agent)

        def ref_cycle():
            reference_complete(scratch.db, reference_claim(scratch.db, ref_agent, set()))

        ours_tp = args.claims / sum(timed(ours_cycle, args.claims))
        ref_tp = ref_claims / sum(timed(ref_cycle, ref_claims))
        return dict(size=size, ours_p50=pct(ours, .5), ours_p99=pct(ours, .99), ref_p50=pct(ref, .5),
                    ref_p99=pct(ref, .99), ours_tp=ours_tp, ref_tp=ref_tp, ref_n=ref_claims)
    finally:
        scratch.close()


# -- path globs: 10k pending, 50 running leased tasks holding paths ---------------------------
def seed_paths(scratch: Scratch, pending: int, running: int, declared: bool) -> None:
    """``pending`` ready tasks and ``running`` leased ones; ``declared``: each with a glob ``src/mod<k>/**``
    (pending k over 200 folders, the running ones holding the first ``running``: a quarter of the pending
    tasks overlap one), else none (the claim as before paths existed)."""
    from phaseloom.db.models import TaskPath

    scratch.seed(pending + running)
    runner = scratch.agent(f"runner-{declared}")
    with scratch.db.engine.begin() as conn:
        ids = list(conn.scalars(select(Task.id).where(Task.status == "pending").order_by(Task.id)))
        conn.execute(update(Task).where(Task.id.in_(ids[:running])).values(
            status="running", assigned_agent_id=runner, lease_expires_at=datetime(2100, 1, 1, tzinfo=timezone.utc)))
        if declared:
            folders = [k for k in range(running)] + [n % 200 for n in range(len(ids) - running)]
            conn.execute(insert(TaskPath), [dict(task_id=i, glob=f"src/mod{k}/**", prefix=f"src/mod{k}/")
                                            for i, k in zip(ids, folders)])
            conn.execute(update(Task).values(path_count=1))
        if scratch.db.backend == "postgresql":
            conn.exec_driver_sql("ANALYZE")


def measure_paths(backend: str, args) -> dict:
    """Claim p50/p99 with paths declared against the same queue without any, in one process."""
    results: dict[bool, list[float]] = {False: [], True: []}
    # CPU time too: on a loaded machine the wall clock is mostly waiting for a core (SQLite runs in
    # this thread, so its work is in the thread's CPU time; the commit's fsync wait is not).
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for declared in (False, True, False, True):  # alternated: drift on a shared machine hits both alike
        scratch = Scratch(backend, args.pg_admin)
        try:
            seed_paths(scratch, args.paths_pending + 2 * args.claims, 50, declared)
            agent, queue = scratch.agent("ours"), QueueService(scratch.uow)
            for _ in range(args.claims):
                start, start_cpu = time.perf_counter(), time.thread_time()
                task = queue.claim_next_task(agent)
                results[declared].append(time.perf_counter() - start)
                cpu[declared].append(time.thread_time() - start_cpu)
                queue.complete_task(task.id, agent)  # untimed: 50 stay running, the queue stays at size
        finally:
            scratch.close()
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    return dict(plain_p50=pct(results[False], .5), plain_p99=pct(results[False], .99),
                paths_p50=pct(results[True], .5), paths_p99=pct(results[True], .99), load=load,
                plain_cpu=pct(cpu[False], .5), paths_cpu=pct(cpu[True], .5))


def report_paths(backend: str, pending: int, r: dict) -> None:
    print(f"\n== {backend}: claim with path globs, {pending} pending, 50 running leased tasks holding paths ==")
    print(f"no paths declared: p50 {r['plain_p50'] * 1e3:.3f}ms p99 {r['plain_p99'] * 1e3:.3f}ms | "
          f"every task declaring one: p50 {r['paths_p50'] * 1e3:.3f}ms p99 {r['paths_p99'] * 1e3:.3f}ms | "
          f"p50 ratio {r['paths_p50'] / r['plain_p50']:.2f} | load average {r['load']}")
    print(f"CPU time p50 (this thread): no paths {r['plain_cpu'] * 1e3:.3f}ms, with paths {r['paths_cpu'] * 1e3:.3f}ms,"
          f" ratio {r['paths_cpu'] / r['plain_cpu']:.2f}")


# -- PostgreSQL, 4 processes -------------------------------------------------------------------
BARE_CLAIM = """UPDATE tasks SET status = 'claimed', assigned_agent_id = %s, claimed_at = now()
WHERE id = (SELECT id FROM tasks WHERE status = 'pending' AND unmet_dependencies = 0
            ORDER BY score DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"""
BARE_COMPLETE = "UPDATE tasks SET status = 'completed', completed_at = now() WHERE id = %s"


def run_loop(first_cycle, start, out) -> None:
    """Drive one worker: ``first_cycle()`` sets the loop up and returns its cycle (claim and
    complete one task; False once the queue is empty).

    One cycle runs before the clock starts and is not counted: connecting, compiling statements
    and reading the agent are start-up costs (about 45 ms of CPU for QueueService's first task),
    not the steady-state throughput the loops are compared on. Every loop gets the same.
    """
    cycle = first_cycle()
    cycle()
    done = 0
    start.wait(60)
    while cycle():
        done += 1
    out.put(done)


def _psycopg(url: str, **kwargs):
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), **kwargs)


def bare_worker(url: str, agent_id: str, start, out) -> None:
    """The two statements, each in a transaction of its own as psycopg runs them by default
    (``BEGIN``, the statement, ``COMMIT``)."""
    def first_cycle():
        conn = _psycopg(url)

        def cycle() -> bool:
            row = conn.execute(BARE_CLAIM, (agent_id,)).fetchone()
            conn.commit()
            if row is not None:
                conn.execute(BARE_COMPLETE, (row[0],))
                conn.commit()
            return row is not None
        return cycle

    run_loop(first_cycle, start, out)


def bare_autocommit_worker(url: str, agent_id: str, start, out) -> None:
    """The bare loop with each statement its own transaction (no BEGIN/COMMIT round trips), as
    QueueService runs its two statements: the strictest baseline."""
    def first_cycle():
        conn = _psycopg(url, autocommit=True)

        def cycle() -> bool:
            row = conn.execute(BARE_CLAIM, (agent_id,)).fetchone()
            if row is not None:
                conn.execute(BARE_COMPLETE, (row[0],))
            return row is not None
        return cycle

    run_loop(first_cycle, start, out)


def statements_worker(url: str, agent_id: str, start, out) -> None:
    """phaseloom's own PostgreSQL statements (claim + event, completion + event), driven with no
    ORM, unit of work or session, each its own transaction as in QueueService: what QueueService
    would cost if its Python cost nothing."""
    from psycopg.types.json import Json

    from phaseloom.queue import _statements as statements

    def first_cycle():
        conn = _psycopg(url, autocommit=True)
        agent = statements.ClaimingAgent(*conn.execute(statements.postgres_claiming_agent().sql,
                                                       {"agent_id": agent_id}).fetchone())
        claim, complete = statements.postgres_claim(*agent.shape), statements.postgres_complete(True)

        def cycle() -> bool:
            now = utcnow()
            row = conn.execute(claim.sql, {"claim_now": now, "claim_lease_until": now,
                                           **statements.claim_parameters(agent)}).fetchone()
            if row is not None:
                conn.execute(complete.sql, {"task_id": row[0], "agent_id": agent_id, "result": Json({}),
                                            "completed_at": utcnow()}).fetchall()
            return row is not None
        return cycle

    run_loop(first_cycle, start, out)


def service_worker(url: str, agent_id: str, start, out) -> None:
    def first_cycle():
        queue = QueueService(UnitOfWork(Database.connect(url)))

        def cycle() -> bool:
            task = queue.claim_next_task(agent_id)
            if task is not None:
                queue.complete_task(task.id, agent_id)
            return task is not None
        return cycle

    run_loop(first_cycle, start, out)


def drain(target, scratch: Scratch, tasks: int, workers: int) -> float:
    scratch.seed(tasks + workers)  # one task per worker for its first, uncounted cycle
    agents = [scratch.agent(f"w{uuid.uuid4().hex[:6]}") for _ in range(workers)]
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(scratch.url, a, start, out)) for a in agents]
    for p in procs:
        p.start()
    time.sleep(2.0)  # let every worker import, connect and run its first cycle before the clock starts
    began = time.perf_counter()
    start.set()
    total = sum(out.get(timeout=600) for _ in procs)
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    # Only seeded tasks with no capability are claimable by the bare loop and the workers alike.
    return total / elapsed


WORKER_LOOPS = (("bare SQL loop", bare_worker), ("QueueService", service_worker),
                ("phaseloom SQL, no ORM", statements_worker), ("bare SQL, autocommit", bare_autocommit_worker))


def measure_workers(args) -> list[dict]:
    """``--rounds`` rounds of every loop in turn, on one database; tasks/s per loop per round.

    Each ratio is taken within a round, so a checkpoint or an autovacuum that slows one round
    (the runs are seconds long, on two cores) moves its ratios less than it would a comparison
    of separate runs; the report gives the median round.
    """
    scratch = Scratch("postgresql", args.pg_admin)
    listener = Listener(scratch.url) if args.with_listener else None
    try:
        rounds = []
        for n in range(args.rounds):
            # Each round starts with a different loop: the tables grow by every drain, so a fixed
            # order would always run the same loop on the smallest tables.
            order = WORKER_LOOPS[n % len(WORKER_LOOPS):] + WORKER_LOOPS[:n % len(WORKER_LOOPS)]
            rounds.append({name: drain(target, scratch, args.worker_tasks, args.workers) for name, target in order})
        if listener:
            print(f"(a registered listener heard {listener.heard} notifications)")
        return rounds
    finally:
        if listener:
            listener.stop()
        scratch.close()


class Listener:
    """A registered LISTEN connection, as a running ``phaseloom serve`` holds one: with it,
    QueueService's processes send their NOTIFYs (without one they send none)."""

    def __init__(self, url: str) -> None:
        import threading

        from phaseloom.db.announcer import START_LISTENING

        self.heard = 0
        self._conn = _psycopg(url, autocommit=True)
        for statement in START_LISTENING:
            self._conn.execute(statement)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stopping.is_set():
            self.heard += sum(1 for _ in self._conn.notifies(timeout=0.5))

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        self._conn.close()


def report_workers(rounds: list[dict], workers: int) -> None:
    from statistics import median

    print(f"\n== postgresql: {workers} worker processes, claim+complete, durable commits ==")
    print("round | " + " | ".join(f"{name:>21}" for name, _ in WORKER_LOOPS) + " | ours/bare | SQL/bare | ours/bare AC")
    ratios = []
    for n, r in enumerate(rounds, 1):
        bare, ours = r["bare SQL loop"], r["QueueService"]
        ratios.append((ours / bare, r["phaseloom SQL, no ORM"] / bare, ours / r["bare SQL, autocommit"]))
        print(f"{n:>5} | " + " | ".join(f"{r[name]:>15.0f} tsk/s" for name, _ in WORKER_LOOPS)
              + f" | {ratios[-1][0]:>9.0%} | {ratios[-1][1]:>8.0%} | {ratios[-1][2]:>12.0%}")
    print(f"median: QueueService / bare SQL loop {median(r[0] for r in ratios):.0%}; its SQL alone / bare "
          f"{median(r[1] for r in ratios):.0%}; QueueService / bare loop in autocommit {median(r[2] for r in ratios):.0%}")


# -- output ------------------------------------------------------------------------------------
def report_sizes(backend: str, rows: list[dict]) -> None:
    print(f"\n== {backend}: claim latency and single-process claim+complete throughput ==")
    print(f"{'pending':>8} | {'ours p50':>9} {'ours p99':>9} | {'ref p50':>9} {'ref p99':>9} | {'p50 ratio':>9} | "
          f"{'ours tasks/s':>12} {'ref tasks/s':>11} {'ratio':>7}")
    for r in rows:
        print(f"{r['size']:>8} | {r['ours_p50'] * 1e3:>7.3f}ms {r['ours_p99'] * 1e3:>7.3f}ms | "
              f"{r['ref_p50'] * 1e3:>7.1f}ms {r['ref_p99'] * 1e3:>7.1f}ms | {r['ref_p50'] / r['ours_p50']:>8.0f}x | "
              f"{r['ours_tp']:>12.0f} {r['ref_tp']:>11.1f} {r['ours_tp'] / r['ref_tp']:>6.0f}x")
    print(f"(reference claims timed per size: {', '.join(str(r['ref_n']) for r in rows)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", default="1000,10000,100000", help="pending tasks, comma-separated")
    parser.add_argument("--claims", type=int, default=300, help="timed claims per size (ours)")
    parser.add_argument("--baseline-budget", type=int, default=300_000,
                        help="reference claims per size = budget / size (at least 3)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-tasks", type=int, default=3000, help="tasks drained by the PostgreSQL workers")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the PostgreSQL worker loops")
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--with-listener", action="store_true",
                        help="keep a registered LISTEN connection open during the worker rounds (as `serve` does)")
    parser.add_argument("--paths", action="store_true", help="only the path-globs scenario (see measure_paths)")
    parser.add_argument("--paths-pending", type=int, default=10_000, help="pending tasks in the path-globs scenario")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="PostgreSQL URL allowed to CREATE DATABASE")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if args.paths:
        for backend in backends:
            report_paths(backend, args.paths_pending, measure_paths(backend, args))
        return 0
    for backend in backends:
        report_sizes(backend, [measure_size(backend, size, args) for size in sizes])
    if "postgresql" in backends and not args.skip_workers:
        report_workers(measure_workers(args), args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
