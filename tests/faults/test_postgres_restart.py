"""PostgreSQL restarted in the middle of a run: serve, the orchestrator and the workers carry on by themselves.

The restart happens on a private cluster (its own folder and port), never on the shared server.
"""

from __future__ import annotations

import time

import httpx
import pytest

from phaseloom.db.engine import Database
from phaseloom.services.auth import AuthService
from phaseloom.services.unit_of_work import UnitOfWork
from tests.api.live_server import free_port
from tests.faults.checks import assert_outbox_consistent, assert_work_accounted_for, replay_events
from tests.faults.support import PrivateCluster, Processes, postgres_bin, prepare, runs_per_task, tickets_done, wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL binaries (initdb, pg_ctl)")]
TICKETS = 4


@pytest.fixture
def cluster():
    server = PrivateCluster()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


def test_everything_reconnects_after_a_postgres_restart(cluster, tmp_path):
    db = Database.connect(cluster.url)
    procs = Processes(tmp_path)
    try:
        prepare(db, tmp_path, TICKETS)
        token = AuthService(UnitOfWork(db)).create_admin_token()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        procs.serve("serve", cluster.url, port)
        procs.worker("orchestrator", cluster.url, "--role", "orchestrator")
        for n in range(2):
            procs.worker(f"worker{n}", cluster.url, "--delay", "0.15", "--lease", "8")
        wait_for(lambda: sum(r[2] == "completed" for r in runs_per_task(db).values()) >= 4, 30, "the run to get going")

        cluster.stop("fast")  # every connection of every process is cut
        down = httpx.get(f"{base}/api/tickets", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        time.sleep(1.5)
        cluster.start()
        restarted = time.monotonic()

        wait_for(lambda: tickets_done(db) == (TICKETS, TICKETS), 35, "every ticket to reach DONE after the restart")
        recovered_in = time.monotonic() - restarted
        alive = {name: p.poll() for name, p in procs.procs.items()}
        replayed = replay_events(base, token)
        runs = assert_work_accounted_for(db)
        assert_outbox_consistent(db, replayed)
        exits = {name: procs.stop(name) for name in ("orchestrator", "worker0", "worker1")}
    finally:
        procs.close()
        db.dispose()

    assert down.status_code == 503 and down.json()["error"]["code"] == "database_unavailable", down.text
    assert set(alive.values()) == {None}, {n: procs.log(n)[-1500:] for n in alive}  # nobody died of it
    assert set(exits.values()) == {0}, exits
    retried = [n for n in ("orchestrator", "worker0", "worker1") if "database unreachable" in procs.log(n)]
    assert retried, "the restart never reached the loops"
    assert len(runs) == TICKETS * 4 and recovered_in < 30
