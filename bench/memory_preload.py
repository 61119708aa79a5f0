"""What preloading memories adds to building a task's instructions, in one run.

The project holds the evaluation set's memories (tests/data/memory_eval, 578 of six types over
the phases, embedded up front). For tasks in each phase it times ``build_instructions`` with the
phase's ``memory_preload`` at 0 (no memory section: the baseline) and at 20 (the default), and
prints the median and p95 of each and the difference. Semantic mode has the model loaded
before timing (the orchestrator warms it, see execution.py), so the time is the query's
embedding plus both searches; keyword mode is ``memory_semantic = false``.

    python bench/memory_preload.py [--backend sqlite postgresql] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from phaseloom.db.engine import Database  # noqa: E402
from phaseloom.db.migrate import upgrade  # noqa: E402
from phaseloom.embeddings import shared_embedder  # noqa: E402
from phaseloom.loaders.documents import load_workflow_data  # noqa: E402
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow  # noqa: E402
from phaseloom.services.instructions import InstructionService  # noqa: E402
from phaseloom.services.memory import MemoryService  # noqa: E402
from phaseloom.services.projects import ProjectService  # noqa: E402
from phaseloom.queue import QueueService  # noqa: E402
from phaseloom.services.tickets import TicketService  # noqa: E402
from phaseloom.db.unit_of_work import UnitOfWork  # noqa: E402
from phaseloom.services.workflows import WorkflowService  # noqa: E402

EVAL = ROOT / "tests" / "data" / "memory_eval"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TASKS = {"PHASE_IMPLEMENTATION": "Fix the payment webhook signature errors",
         "PHASE_TESTING": "Make the login form tests stable under load",
         "PHASE_DEPLOYMENT": "Restore the nightly backup into staging"}


def _memories() -> list[dict]:
    return [json.loads(line) for name in ("memories.jsonl", "memories_written.jsonl")
            for line in (EVAL / name).read_text().splitlines() if line.strip()]


def _workflow_with_preload(n: int):
    """The shipped software_development workflow with every phase's memory_preload set to ``n``."""
    import yaml

    data = yaml.safe_load(shipped_workflow("software_development").read_text())
    for phase in data["phases"]:
        phase.setdefault("configuration", {})["memory_preload"] = n
    return load_workflow_data(data)


def _database(backend: str):
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="phaseloom-preload-")
        return Database.connect(f"sqlite:///{folder}/bench.db"), None
    name = f"bench_preload_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return Database.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"), (admin, name)


def _drop(created) -> None:
    if created:
        admin, name = created
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _time_builds(db, task_ids: list[int], semantic: bool, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        for task_id in task_ids:
            builder = InstructionService(UnitOfWork(db), memory_semantic=semantic)
            start = time.perf_counter()
            builder.build_instructions(task_id)
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def bench(backend: str, runs: int) -> list[tuple]:
    db, created = _database(backend)
    try:
        upgrade(db.engine)
        uow = UnitOfWork(db)
        workflows = WorkflowService(uow)
        workflows.save_document(load_workflow_source(shipped_workflow("software_development")))
        project = ProjectService(uow).create_project("bench", "software_development")
        embedder = shared_embedder()
        MemoryService(uow, embedder=embedder).save_memories(
            [dict(m, project_id=project.id) for m in _memories()])
        ticket = TicketService(uow).create_ticket(project.id, "Preload benchmark")
        tasks = [QueueService(uow).create_task(ticket.id, phase, title).id for phase, title in TASKS.items()]
        rows = []
        for semantic in ([False, True] if embedder is not None else [False]):
            timings = {}
            for preload in (0, 20):
                workflows.save_document(_workflow_with_preload(preload), overwrite=True)
                _time_builds(db, tasks, semantic, 2)  # warm caches: the index, term statistics
                timings[preload] = _time_builds(db, tasks, semantic, runs)
            rows.append((backend, "semantic+keyword" if semantic else "keyword only", timings[0], timings[20]))
        return rows
    finally:
        db.dispose()
        _drop(created)


def _p(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(q * len(samples)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(f"{'backend':11} {'search':17} {'p50 off':>8} {'p50 20':>8} {'added p50':>10} {'p95 off':>8} "
          f"{'p95 20':>8} {'added p95':>10}   (ms)")
    for backend in args.backend:
        for name, mode, off, on in bench(backend, args.runs):
            p50_off, p50_on = statistics.median(off), statistics.median(on)
            p95_off, p95_on = _p(off, 0.95), _p(on, 0.95)
            print(f"{name:11} {mode:17} {p50_off:8.1f} {p50_on:8.1f} {p50_on - p50_off:+10.1f} {p95_off:8.1f} "
                  f"{p95_on:8.1f} {p95_on - p95_off:+10.1f}")


if __name__ == "__main__":
    main()
