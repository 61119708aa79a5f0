"""Event delivery benchmark: latency from a REST write to 100 WebSocket clients of a real server.

    python bench/events.py                        # SQLite (in-process bus) and PostgreSQL (NOTIFY)
    python bench/events.py --backend sqlite --clients 100 --events 200

It starts ``phaseloom serve`` as a separate process on 127.0.0.1, connects the clients to ``/ws``
(filtered to ``ticket.created``), then creates tickets one at a time through ``POST /api/tickets``
at a steady pace. Latency is measured per (event, client) from just before the POST is sent to
the moment the client has decoded the event, all on this machine's monotonic clock; so it covers
the HTTP request, the commit, the wake-up, the outbox read and the fan-out. The baseline, run in
the same process, is the same measurement with a single client; the ratio shows what fan-out to
many clients costs.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and bench/queue.py would shadow the
# standard library's ``queue`` (which asyncio and anyio import); the repository root goes there instead.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import httpx  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from phaseloom.db.engine import Database  # noqa: E402
from phaseloom.db.migrate import upgrade  # noqa: E402
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow  # noqa: E402
from phaseloom.services.projects import ProjectService  # noqa: E402
from phaseloom.db.unit_of_work import UnitOfWork  # noqa: E402
from phaseloom.services.workflows import WorkflowService  # noqa: E402
from tests.api.live_server import free_port, start_serve, stop  # noqa: E402

PG_ADMIN_URL = os.environ.get("PHASELOOM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def prepare_database(backend: str, workdir: Path) -> tuple[str, callable]:
    """A migrated database with project ``demo``; returns its URL and a clean-up function."""
    if backend == "sqlite":
        url, cleanup = f"sqlite:///{workdir}/bench.db", (lambda: None)
    else:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"phaseloom_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

        def cleanup():
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    db = Database.connect(url)
    upgrade(db.engine)
    uow = UnitOfWork(db)
    WorkflowService(uow).save_document(load_workflow_source(shipped_workflow("software_development")))
    ProjectService(uow).create_project("demo", "software_development")
    db.dispose()
    return url, cleanup


async def measure(port: int, clients: int, events: int, pace: float) -> list[float]:
    """Latencies in seconds, one per (event, client)."""
    url = f"ws://127.0.0.1:{port}/ws?types=ticket.created"
    sockets = [await connect(url, max_size=None, open_timeout=30) for _ in range(clients)]
    for ws in sockets:  # skip the "ready" message
        assert json.loads(await ws.recv())["type"] == "ready"
    # Writes are sequential and events arrive in id order, so the i-th event a client receives
    # is the i-th ticket created; its start time is recorded before the request goes out.
    started: list[float] = []
    latencies: list[float] = []

    async def listen(ws):
        last_id = 0
        for i in range(events):
            while (message := json.loads(await ws.recv()))["type"] != "event":
                pass
            latencies.append(time.perf_counter() - started[i])
            assert message["event"]["id"] > last_id, "events out of order or repeated"
            last_id = message["event"]["id"]

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        for n in range(events):
            started.append(time.perf_counter())
            response = await http.post("/api/tickets", json={"project": "demo", "title": f"bench {n}"})
            response.raise_for_status()
            await asyncio.sleep(pace)
    await asyncio.wait_for(asyncio.gather(*listeners), 60)
    for ws in sockets:
        await ws.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def run_backend(backend: str, clients: int, events: int, pace: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, cleanup = prepare_database(backend, workdir)
        port = free_port()
        [proc] = start_serve(url, [port], workdir, PHASELOOM_LOG_LEVEL="WARNING")
        try:
            baseline = asyncio.run(measure(port, 1, max(20, events // 4), pace))
            many = asyncio.run(measure(port, clients, events, pace))
        finally:
            stop(proc)
            cleanup()
    return {
        "p50_ms": percentile(many, 50) * 1000, "p99_ms": percentile(many, 99) * 1000,
        "max_ms": max(many) * 1000, "mean_ms": statistics.fmean(many) * 1000,
        "base_p50_ms": percentile(baseline, 50) * 1000, "base_p99_ms": percentile(baseline, 99) * 1000,
        "deliveries": len(many),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--pace", type=float, default=0.02, help="seconds between writes")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"{args.clients} WebSocket clients, {args.events} events, one write every {args.pace * 1000:.0f} ms")
    print(f"{'backend':<11} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'1-client p50':>13} {'1-client p99':>13}"
          f" {'p50 ratio':>10} {'deliveries':>11}")
    for backend in backends:
        r = run_backend(backend, args.clients, args.events, args.pace)
        print(f"{backend:<11} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} {r['base_p50_ms']:>13.1f}"
              f" {r['base_p99_ms']:>13.1f} {r['p50_ms'] / r['base_p50_ms']:>9.1f}x {r['deliveries']:>11}")


if __name__ == "__main__":
    main()
