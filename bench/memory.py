"""Memory search benchmark: our hybrid search against a brute-force scan, in one run.

For 10k and 100k memories on SQLite and PostgreSQL it prints p50/p99 hybrid search latency
(query embedding excluded, as the issue asks: the query vector is computed once up front) and
insert throughput (save_memories with the near-duplicate check), side by side with the
reference design: read every embedding of the project from the database per query, score it
in Python, then fuse with the same keyword list.

Vectors: real MiniLM embeddings of the 512 evaluation notes, each copy perturbed with noise and
re-normalised, so 100k vectors are distinct but realistically distributed; texts are the notes
with a numbered suffix. Usage::

    python bench/memory.py --sizes 10000 100000 --backend sqlite postgresql
    python bench/memory.py --sizes 100000 --backend pgvector   # PostgreSQL + pgvector (pgserver)

``--quality`` instead reports retrieval quality on the evaluation set (tests/services/memory_eval_set.py):
recall@5 and MRR@10 per query kind for hybrid, semantic and keyword search, on each backend::

    python bench/memory.py --quality --backend sqlite postgresql
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

import numpy as np
from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
# bench/queue.py would shadow the standard library's queue module (torch imports it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from phaseloom.db.engine import Database  # noqa: E402
from phaseloom.db.migrate import upgrade  # noqa: E402
from phaseloom.db.models.memory import TaskMemory  # noqa: E402
from phaseloom.domain.memory import reciprocal_rank_fusion  # noqa: E402
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow  # noqa: E402
from phaseloom.embeddings import from_blob, shared_embedder  # noqa: E402
from phaseloom.search import MemoryFilter, VectorIndex  # noqa: E402
from phaseloom.services.memory import MemoryService  # noqa: E402
from phaseloom.services.projects import ProjectService  # noqa: E402
from phaseloom.db.unit_of_work import UnitOfWork  # noqa: E402
from phaseloom.services.workflows import WorkflowService  # noqa: E402

EVAL = ROOT / "tests" / "data" / "memory_eval"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class PrecomputedEmbedder:
    """Returns vectors computed before timing starts (the bench times search, not the model)."""

    name, dimensions = "all-MiniLM-L6-v2", 384

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed(self, texts):
        return np.stack([self.table[t] for t in texts])


def fresh_database(backend: str, workdir: Path) -> tuple[Database, callable]:
    if backend == "sqlite":
        path = workdir / f"mem-{uuid.uuid4().hex[:6]}.db"
        db = Database.connect(f"sqlite:///{path}")
        return db, lambda: (db.dispose(), path.unlink(missing_ok=True))
    if backend == "pgvector":  # a private PostgreSQL with the pgvector extension (pgserver's build)
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="plbench-pgvector-")), cleanup_mode="delete")
        server.psql("CREATE DATABASE bench;")
        db = Database.connect(server.get_uri("bench"))
        return db, lambda: (db.dispose(), server.cleanup())
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"phaseloom_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")

    def drop():
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return db, drop


def seed(db: Database, size: int, notes: list[dict], base: np.ndarray, rng: np.random.Generator) -> int:
    upgrade(db.engine)
    uow = UnitOfWork(db)
    WorkflowService(uow).save_document(load_workflow_source(shipped_workflow("software_development")))
    project_id = ProjectService(uow).create_project("bench").id
    rows, batch = [], 5000
    with db.engine.begin() as conn:
        for i in range(size):
            note = notes[i % len(notes)]
            vec = base[i % len(notes)] + rng.normal(0, 0.08, base.shape[1]).astype(np.float32)
            vec /= np.linalg.norm(vec)
            content = f"{note['content']} (case {i})"
            rows.append(dict(project_id=project_id, phase_id=note["phase_id"], memory_type=note["memory_type"],
                             content=content, goal="", result="", feedback="", related_files=[], tags=note["tags"],
                             search_text=content + " " + " ".join(note["tags"]), embedding=vec.tobytes(),
                             embedding_model="all-MiniLM-L6-v2", times_seen=1, times_used=0))
            if len(rows) == batch:
                conn.execute(insert(TaskMemory), rows)
                rows = []
        if rows:
            conn.execute(insert(TaskMemory), rows)
    return project_id


def brute_force_hybrid(service: MemoryService, db: Database, project_id: int, query: str, vector: np.ndarray) -> list:
    """The reference: read all embeddings from the database per query, score in Python."""
    with db.sessions() as session:
        rows = session.execute(select(TaskMemory.id, TaskMemory.embedding)
                               .where(TaskMemory.project_id == project_id)).all()
    ids = np.array([r.id for r in rows])
    matrix = np.stack([from_blob(r.embedding) for r in rows])
    scores = matrix @ vector
    semantic = [int(i) for i in ids[np.argsort(-scores)[:50]]]
    with service.uow:
        keyword = service.keyword_ranking(query, MemoryFilter(project_id=project_id))
    return reciprocal_rank_fusion([semantic, keyword])[:10]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(backend: str, size: int, notes, base, queries, qvecs, workdir: Path, baseline_queries: int) -> dict:
    rng = np.random.default_rng(size)
    db, cleanup = fresh_database(backend, workdir)
    try:
        project_id = seed(db, size, notes, base, rng)
        service = MemoryService(UnitOfWork(db), embedder=PrecomputedEmbedder(dict(zip(queries, qvecs))),
                                index=VectorIndex())
        start = time.perf_counter()
        # First load of the vector index (none with pgvector) and, on PostgreSQL, of the word counts:
        # reported separately.
        with service._committed_rows() as session:
            if backend != "pgvector":
                service.index.sync(session)
        if service.terms is not None:
            service._sync_terms()
        load_s = time.perf_counter() - start
        ours = []
        for q in queries:
            t0 = time.perf_counter()
            service.search(q, project_id=project_id, limit=10)
            ours.append((time.perf_counter() - t0) * 1000)
        ref = []
        for q, v in list(zip(queries, qvecs))[:baseline_queries]:
            t0 = time.perf_counter()
            brute_force_hybrid(service, db, project_id, q, v)
            ref.append((time.perf_counter() - t0) * 1000)
        new = [{"content": f"{notes[i % len(notes)]['content']} (new {i})", "memory_type": "learning",
                "project_id": project_id} for i in range(200)]
        vectors = {n["content"]: v for n, v in zip(new, base[rng.integers(0, len(base), 200)]
                                                    + rng.normal(0, 0.3, (200, base.shape[1])).astype(np.float32))}
        vectors = {k: v / np.linalg.norm(v) for k, v in vectors.items()}
        inserter = MemoryService(UnitOfWork(db), embedder=PrecomputedEmbedder(vectors), index=service.index)
        t0 = time.perf_counter()
        for chunk in range(0, len(new), 20):
            inserter.save_memories(new[chunk:chunk + 20])
        insert_rate = len(new) / (time.perf_counter() - t0)
        return dict(backend=backend, size=size, index_load_s=load_s, ours_p50=statistics.median(ours),
                    ours_p99=percentile(ours, 99), ref_p50=statistics.median(ref), ref_p99=percentile(ref, 99),
                    insert_per_s=insert_rate)
    finally:
        cleanup()


def quality(backend: str, workdir: Path, embedder) -> dict:
    """{mode: {kind: (recall@5, MRR@10)}} on the evaluation set, with the real model."""
    from tests.services import memory_eval_set as eval_set

    db, cleanup = fresh_database(backend, workdir)
    try:
        upgrade(db.engine)
        uow = UnitOfWork(db)
        WorkflowService(uow).save_document(load_workflow_source(shipped_workflow("software_development")))
        project_id = ProjectService(uow).create_project("quality").id
        service = MemoryService(uow, embedder=embedder, index=VectorIndex())
        ids = eval_set.load_into(service, project_id)
        return {mode: eval_set.evaluate(service, project_id, ids, mode) for mode in ("hybrid", "semantic", "keyword")}
    finally:
        cleanup()


def print_quality(backends: list[str], workdir: Path, embedder) -> None:
    from tests.services import memory_eval_set as eval_set

    kinds = (*eval_set.KINDS, "overall")
    counts = {kind: sum(q.kind == kind for q in eval_set.queries()) for kind in eval_set.KINDS}
    counts["overall"] = sum(counts.values())
    print("recall@5 / MRR@10 | " + " | ".join(f"{k} ({counts[k]})" for k in kinds))
    for backend in backends:
        for mode, result in quality(backend, workdir, embedder).items():
            cells = " | ".join(f"{result[k][0]:.3f} / {result[k][1]:.3f}" for k in kinds)
            print(f"{backend} {mode} | {cells}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--baseline-queries", type=int, default=15)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp"))
    parser.add_argument("--quality", action="store_true", help="recall@5 and MRR per query kind instead of speed")
    args = parser.parse_args()
    if args.quality:
        embedder = shared_embedder()
        if embedder is None:
            sys.exit("install phaseloom[memory] to run this benchmark")
        print_quality(args.backend, args.workdir, embedder)
        return
    notes = [json.loads(line) for line in (EVAL / "memories.jsonl").read_text().splitlines()]
    queries = [json.loads(line)["query"] for line in (EVAL / "queries.jsonl").read_text().splitlines()][: args.queries]
    embedder = shared_embedder()
    if embedder is None:
        sys.exit("install phaseloom[memory] to run this benchmark")
    base = embedder.embed([n["content"] for n in notes])
    qvecs = embedder.embed(queries)
    print(f"{'backend':10} {'memories':>9} | {'ours p50':>9} {'ours p99':>9} | {'brute p50':>10} {'brute p99':>10} | "
          f"{'speed-up':>8} | {'inserts/s':>9} | index load")
    for backend in args.backend:
        for size in args.sizes:
            r = run(backend, size, notes, base, queries, qvecs, args.workdir, args.baseline_queries)
            print(f"{backend:10} {size:>9} | {r['ours_p50']:>7.1f}ms {r['ours_p99']:>7.1f}ms | "
                  f"{r['ref_p50']:>8.1f}ms {r['ref_p99']:>8.1f}ms | {r['ref_p50'] / r['ours_p50']:>7.0f}x | "
                  f"{r['insert_per_s']:>9.0f} | {r['index_load_s']:.2f}s", flush=True)


if __name__ == "__main__":
    main()
