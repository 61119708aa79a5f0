"""``serve`` killed with -9 and restarted: a WebSocket client that reconnects with ``since`` misses nothing.

Events keep being written the whole time, including while no server runs: by a writer thread, or
by a real run (an orchestrator and four workers whose ``command`` runtime agents report through
MCP, ``tests/faults/mcp_agent.py``) on PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent
from phaseloom.services.auth import AuthService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.api.live_server import free_port
from tests.faults.checks import assert_events_once, assert_reported_and_merged, assert_work_accounted_for
from tests.faults.support import Processes, prepare, tickets_done, wait_for
from tests.workspaces.test_workspaces import make_repo

pytestmark = pytest.mark.slow


class ReconnectingClient(threading.Thread):
    """Reads ``/ws``; when the connection drops, reconnects with ``since=<last id seen>`` until told to stop."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.received: list[int] = []
        self.connections = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            since = self.received[-1] if self.received else 0
            try:
                with connect(f"{self.url}?since={since}", open_timeout=2, close_timeout=1,
                             additional_headers={"Authorization": f"Bearer {self.token}"}) as ws:
                    self.connections += 1
                    while not self.stop.is_set():
                        try:
                            message = json.loads(ws.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        if message["type"] == "event":
                            self.received.append(message["event"]["id"])
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                time.sleep(0.2)  # the server is gone: try again shortly


def _serve_killed_while(procs: Processes, db: Database, db_url: str, producing) -> tuple[ReconnectingClient, list]:
    """Serve and a reconnecting client; inside ``producing`` (events being written), serve is killed -9
    after 20 live events and started again. Returns the client, caught up, and every stored event id."""
    port = free_port()
    client = ReconnectingClient(f"ws://127.0.0.1:{port}/ws", AuthService(UnitOfWork(db)).create_admin_token())
    try:
        procs.serve("serve1", db_url, port)
        client.start()
        with producing:
            wait_for(lambda: len(client.received) >= 20, 30, "live events before the crash")
            procs.kill("serve1")  # kill -9
            time.sleep(1.0)  # events keep being written while nobody serves them
            procs.serve("serve2", db_url, port)
            wait_for(lambda: client.connections >= 2, 20, "the client to reconnect")
        with UnitOfWork(db, readonly=True) as uow:
            stored = list(uow.session.scalars(select(SystemEvent.id).order_by(SystemEvent.id)))
        wait_for(lambda: client.received[-1:] == stored[-1:], 20, "the client to catch up")
    finally:
        client.stop.set()
        client.join(5)
    return client, stored


@contextmanager
def _ticking(db: Database) -> Iterator[None]:
    """A thread writing an event every 20 ms (as workers would), until half a second after the block."""
    writing = threading.Event()
    writing.set()

    def writer() -> None:
        n = 0
        while writing.is_set():
            with UnitOfWork(db) as uow:
                uow.emit("fault.tick", "thing", n, payload={"n": n})
            n += 1
            time.sleep(0.02)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield
        time.sleep(0.5)
    finally:
        writing.clear()
        thread.join(5)


@contextmanager
def _running(procs: Processes, db: Database, db_url: str, tickets: int, workers: int) -> Iterator[None]:
    """An orchestrator and ``workers`` worker processes with MCP agents; after the block, every ticket DONE
    and every process stopped (their last events written)."""
    procs.worker("orchestrator", db_url, "--role", "orchestrator")
    for n in range(workers):
        procs.worker(f"worker{n}", db_url, "--runtime", "command", "--lease", "20")
    yield
    wait_for(lambda: tickets_done(db) == (tickets, tickets), 120, "every ticket to reach DONE")
    exits = {name: procs.stop(name) for name in ("orchestrator", *(f"worker{n}" for n in range(workers)))}
    assert set(exits.values()) == {0}, exits


def test_a_reconnecting_websocket_client_gets_every_missed_event_once(db_url, tmp_path):
    db = Database.connect(db_url)
    procs = Processes(tmp_path)
    try:
        client, stored = _serve_killed_while(procs, db, db_url, _ticking(db))
    finally:
        procs.close()
        db.dispose()

    assert client.connections == 2
    assert client.received == stored  # every event, once each, in order: none lost across the crash
    assert len(stored) > 60


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_run_with_mcp_agents_and_four_workers_loses_no_event_across_a_serve_kill(db_url, tmp_path):
    db = Database.connect(db_url)
    procs = Processes(tmp_path)
    repo = make_repo(tmp_path / "repo")
    try:
        prepare(db, tmp_path, 4, repo=repo, phases=2)
        client, stored = _serve_killed_while(procs, db, db_url, _running(procs, db, db_url, tickets=4, workers=4))
        assert client.connections == 2
        assert client.received == stored  # every event of the run, once each, in order
        assert_work_accounted_for(db)
        assert_events_once(db)
        assert_reported_and_merged(db, repo)
    finally:
        procs.close()
        db.dispose()
