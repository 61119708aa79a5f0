"""``serve`` killed with -9 and restarted: a WebSocket client that reconnects with ``since`` misses nothing.

Events keep being written (as workers would) the whole time, including while no server runs.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent
from phaseloom.services.auth import AuthService
from phaseloom.services.unit_of_work import UnitOfWork
from tests.api.live_server import free_port
from tests.faults.support import Processes, wait_for

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


def test_a_reconnecting_websocket_client_gets_every_missed_event_once(db_url, tmp_path):
    db = Database.connect(db_url)
    token = AuthService(UnitOfWork(db)).create_admin_token()
    procs = Processes(tmp_path)
    port = free_port()
    writing = threading.Event()
    writing.set()

    def writer() -> None:
        n = 0
        while writing.is_set():
            with UnitOfWork(db) as uow:
                uow.emit("fault.tick", "thing", n, payload={"n": n})
            n += 1
            time.sleep(0.02)

    client = ReconnectingClient(f"ws://127.0.0.1:{port}/ws", token)
    writer_thread = threading.Thread(target=writer, daemon=True)
    try:
        procs.serve("serve1", db_url, port)
        client.start()
        writer_thread.start()
        wait_for(lambda: len(client.received) >= 20, 20, "live events before the crash")
        procs.kill("serve1")  # kill -9
        time.sleep(1.0)  # events keep being written while nobody serves them
        procs.serve("serve2", db_url, port)
        wait_for(lambda: client.connections >= 2, 20, "the client to reconnect")
        time.sleep(0.5)
        writing.clear()
        writer_thread.join(5)
        with UnitOfWork(db, readonly=True) as uow:
            stored = list(uow.session.scalars(select(SystemEvent.id).order_by(SystemEvent.id)))
        wait_for(lambda: client.received[-1:] == stored[-1:], 20, "the client to catch up")
    finally:
        writing.clear()
        client.stop.set()
        client.join(5)
        procs.close()
        db.dispose()

    assert client.connections == 2
    assert client.received == stored  # every event, once each, in order: none lost across the crash
    assert len(stored) > 60
