"""PostgreSQL restarted in the middle of a run: serve, the orchestrator and the workers carry on by themselves.

Once with the scripted agent and two workers, once with ``command`` runtime agents reporting through
MCP (``tests/faults/mcp_agent.py``, whose ``phaseloom mcp`` loses its connection too) and four
workers on a git repository. The restart happens on a private cluster (its own folder and port),
never on the shared server.
"""

from __future__ import annotations

import time

import httpx
import pytest

from phaseloom.db.engine import Database
from phaseloom.services.auth import AuthService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.api.live_server import free_port
from tests.faults.checks import (assert_outbox_consistent, assert_reported_and_merged, assert_work_accounted_for,
                                replay_events)
from tests.faults.support import PrivateCluster, Processes, postgres_bin, prepare, runs_per_task, tickets_done, wait_for
from tests.workspaces.test_workspaces import make_repo

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL binaries (initdb, pg_ctl)")]
TICKETS = 4
# runtime, worker processes, phases, its agents' delay, seconds the rest of the run may take after the restart
RUNS = [("scripted", 2, 4, "0.15", 30), ("command", 4, 2, "0.5", 60)]


@pytest.fixture
def cluster():
    server = PrivateCluster()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.mark.parametrize(("runtime", "workers", "phases", "delay", "recovery"), RUNS,
                         ids=[f"{r[0]}-{r[1]}" for r in RUNS])
def test_everything_reconnects_after_a_postgres_restart(cluster, tmp_path, runtime, workers, phases, delay, recovery):
    db = Database.connect(cluster.url)
    procs = Processes(tmp_path)
    repo = make_repo(tmp_path / "repo") if runtime == "command" else None
    loops = ["orchestrator", *(f"worker{n}" for n in range(workers))]
    try:
        prepare(db, tmp_path, TICKETS, repo=repo, phases=phases)
        token = AuthService(UnitOfWork(db)).create_admin_token()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        procs.serve("serve", cluster.url, port)
        procs.worker("orchestrator", cluster.url, "--role", "orchestrator")
        for name in loops[1:]:
            procs.worker(name, cluster.url, "--runtime", runtime, "--delay", delay, "--lease", "8")
        wait_for(lambda: sum(r[2] == "completed" for r in runs_per_task(db).values()) >= 4, 60, "the run to get going")

        cluster.stop("fast")  # every connection of every process is cut
        down = httpx.get(f"{base}/api/tickets", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        time.sleep(1.5)
        cluster.start()
        restarted = time.monotonic()

        wait_for(lambda: tickets_done(db) == (TICKETS, TICKETS), recovery + 5,
                 "every ticket to reach DONE after the restart")
        recovered_in = time.monotonic() - restarted
        alive = {name: p.poll() for name, p in procs.procs.items()}
        exits = {name: procs.stop(name) for name in loops}  # the workers' last merges done
        replayed = replay_events(base, token)
        runs = assert_work_accounted_for(db)
        assert_outbox_consistent(db, replayed)

        assert down.status_code == 503 and down.json()["error"]["code"] == "database_unavailable", down.text
        assert set(alive.values()) == {None}, {n: procs.log(n)[-1500:] for n in alive}  # nobody died of it
        assert set(exits.values()) == {0}, exits
        assert any("database unreachable" in procs.log(n) for n in loops), "the restart never reached the loops"
        assert len(runs) == TICKETS * phases and recovered_in < recovery
        if repo is not None:
            assert_reported_and_merged(db, repo)
    finally:
        procs.close()
        db.dispose()
