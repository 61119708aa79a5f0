"""``/ws`` against a real server on 127.0.0.1: live events, exact replay on reconnect, filters,
auth, heartbeats, slow clients, and two ``phaseloom serve`` processes sharing one PostgreSQL."""

from __future__ import annotations

import json
import socket
from contextlib import ExitStack
import threading
import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from phaseloom.api.routers.events import event_bus, event_hub
from phaseloom.services.auth import AuthService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.api.live_server import LiveServer, free_port, start_serve, stop


@pytest.fixture
def server(db):
    with LiveServer(db, ws_heartbeat_seconds=30) as live:
        yield live


def open_ws(server_or_url, **params):
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.ws
    query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
    return connect(f"{url}?{query}" if query else url, open_timeout=5, close_timeout=1)


def receive(ws, timeout: float = 5.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def until_ready(ws) -> list[dict]:
    """The replayed events, up to the ``ready`` message."""
    events = []
    while (message := receive(ws))["type"] != "ready":
        assert message["type"] == "event"
        events.append(message["event"])
    return events


def next_event(ws, timeout: float = 5.0) -> dict:
    while (message := receive(ws, timeout))["type"] != "event":
        assert message["type"] == "ping"
    return message["event"]


def write(server, event_type: str, **where) -> int:
    """Commit an event the way an API request does (through the app's bus); returns its id."""
    uow = event_bus(server.app).attach(UnitOfWork(server.app.state.db))
    with uow:
        uow.emit(event_type, "thing", 1, payload=where.pop("payload", {}), **where)
    return uow_last_id(server)


def uow_last_id(server) -> int:
    from phaseloom.events import EventLog

    return EventLog(UnitOfWork(server.app.state.db)).latest_id()


def test_a_client_receives_live_events_from_the_rest_api(server, project):
    with open_ws(server) as ws:
        assert until_ready(ws) == []
        response = httpx.post(f"{server.http}/api/tickets", json={"project": "demo", "title": "Add login"})
        assert response.status_code == 201, response.text
        event = next_event(ws, timeout=3)
    assert event["event_type"] == "ticket.created"
    assert event["ticket_id"] == response.json()["id"]
    assert event["project_id"] == project.id


def test_reconnecting_with_since_replays_exactly_the_gap(server):
    with open_ws(server, since=0) as ws:
        until_ready(ws)
        write(server, "seen.0")
        write(server, "seen.1")
        seen = [next_event(ws), next_event(ws)]
    last_seen = seen[-1]["id"]
    missed = [write(server, f"missed.{n}") for n in range(5)]
    with open_ws(server, since=last_seen) as ws:
        replayed = until_ready(ws)
        write(server, "live.after")
        live = next_event(ws)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)  # nothing more: no duplicate of a replayed event arrives live
    assert [e["event_type"] for e in seen] == ["seen.0", "seen.1"]
    assert [e["id"] for e in replayed] == missed
    assert [e["event_type"] for e in replayed] == [f"missed.{n}" for n in range(5)]
    assert live["event_type"] == "live.after" and live["id"] > missed[-1]


def test_subscriptions_filter_by_project_ticket_phase_and_type(server):
    with open_ws(server, project_id=1) as by_project, open_ws(server, ticket_id=7) as by_ticket, \
            open_ws(server, phase_id="PHASE_DESIGN") as by_phase, \
            open_ws(server, types="task.created,task.failed") as by_type:
        for ws in (by_project, by_ticket, by_phase, by_type):
            until_ready(ws)
        write(server, "task.created", project_id=2, ticket_id=7, phase_id="PHASE_DESIGN")
        write(server, "ticket.blocked", project_id=1, ticket_id=8, phase_id="PHASE_TESTING")
        write(server, "task.failed", project_id=1, ticket_id=7, phase_id="PHASE_TESTING")
        write(server, "marker", project_id=1, ticket_id=7, phase_id="PHASE_DESIGN")  # matches all but types
        got = {name: [] for name in ("project", "ticket", "phase", "type")}
        for name, ws in (("project", by_project), ("ticket", by_ticket), ("phase", by_phase)):
            while (event := next_event(ws))["event_type"] != "marker":
                got[name].append(event["event_type"])
        got["type"] = [next_event(by_type)["event_type"], next_event(by_type)["event_type"]]
    assert got == {
        "project": ["ticket.blocked", "task.failed"],
        "ticket": ["task.created", "task.failed"],
        "phase": ["task.created"],
        "type": ["task.created", "task.failed"],
    }


def test_the_replay_is_filtered_too(server):
    write(server, "a", project_id=1)
    write(server, "b", project_id=2)
    write(server, "c", project_id=1)
    with open_ws(server, since=0, project_id=1, types="a,c") as ws:
        assert [e["event_type"] for e in until_ready(ws)] == ["a", "c"]


def test_auth_is_required_once_an_admin_token_exists(server):
    token = AuthService(UnitOfWork(server.app.state.db)).create_admin_token()
    with pytest.raises(InvalidStatus) as refused:
        open_ws(server)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        open_ws(server, token="plt_admin_1.wrong")
    with open_ws(server, token=token, since=0) as ws:
        assert any(e["event_type"] == "auth.admin_token_created" for e in until_ready(ws))
    with connect(server.ws, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=5) as ws:
        assert until_ready(ws) == []


def test_bad_subscription_parameters_are_refused(server):
    for params in ({"since": "-1"}, {"project_id": "x"}, {"ticket_id": "99999999999"}):
        with pytest.raises(InvalidStatus):
            open_ws(server, **params)


def test_an_idle_client_gets_heartbeat_pings(db):
    with LiveServer(db, ws_heartbeat_seconds=0.2) as live, open_ws(live) as ws:
        until_ready(ws)
        assert receive(ws, timeout=2)["type"] == "ping"


def test_a_redis_bus_delivers_a_write_announced_by_another_process(db, redis_url):
    from phaseloom.events import RedisBus

    with LiveServer(db, event_bus=redis_url, event_poll_seconds=60) as live, open_ws(live) as ws:
        until_ready(ws)
        time.sleep(0.3)  # the server's SUBSCRIBE starts with the first client
        other_process_bus = RedisBus(redis_url)
        uow = other_process_bus.attach(UnitOfWork(db))
        with uow:
            uow.emit("announced.on.redis", "thing", 1)
        other_process_bus.close()
        assert next_event(ws, timeout=3)["event_type"] == "announced.on.redis"


def _stalled_client(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads.

    A raw socket, because client libraries read in the background; its tiny receive buffer makes
    the server back up after a few hundred kilobytes.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def test_a_slow_client_is_dropped_while_a_fast_one_keeps_receiving(db):
    bursts, per_burst = 12, 100
    with LiveServer(db, ws_heartbeat_seconds=30, ws_queue_size=200) as live, ExitStack() as stack:
        stalled = _stalled_client(live.port)
        fast = stack.enter_context(open_ws(live))
        until_ready(fast)
        hub = event_hub(live.app)
        received: list[str] = []

        def read_fast():
            while len(received) < bursts * per_burst:
                received.append(next_event(fast)["event_type"])

        reader = threading.Thread(target=read_fast, daemon=True)
        reader.start()
        padding = "x" * 6000  # big events fill the stalled socket's buffers sooner
        for burst in range(bursts):
            uow = event_bus(live.app).attach(UnitOfWork(db))
            with uow:
                for n in range(per_burst):
                    uow.emit(f"burst.{burst}.{n}", "thing", n, payload={"pad": padding})
            deadline = time.monotonic() + 10
            while len(received) < (burst + 1) * per_burst and time.monotonic() < deadline:
                time.sleep(0.005)  # a fast client keeps up with each burst; the stalled one cannot
        reader.join(30)
        subscribers_left = len(hub.subscriptions)
        stalled.close()
    assert len(received) == bursts * per_burst
    assert received[-1] == f"burst.{bursts - 1}.{per_burst - 1}"
    assert subscribers_left == 1  # the stalled client was dropped


@pytest.mark.slow
def test_two_serve_processes_on_one_postgres_deliver_each_others_events(db, project, tmp_path):
    if db.backend != "postgresql":
        pytest.skip("several serve processes share a PostgreSQL database")
    ports = [free_port(), free_port()]
    procs = start_serve(db.url, ports, tmp_path, PHASELOOM_EVENT_POLL_SECONDS="60")
    try:
        with ExitStack() as stack:
            sockets = [stack.enter_context(open_ws(f"ws://127.0.0.1:{port}/ws", types="ticket.created"))
                       for port in ports]
            for ws in sockets:
                until_ready(ws)
            created = []
            for writer in ports:  # each server writes once; both servers' clients must hear both writes
                response = httpx.post(f"http://127.0.0.1:{writer}/api/tickets",
                                      json={"project": "demo", "title": f"from {writer}"}, timeout=10)
                assert response.status_code == 201, response.text
                created.append(response.json()["id"])
            heard = [[next_event(ws, timeout=3)["ticket_id"] for _ in created] for ws in sockets]
    finally:
        for proc in procs:
            stop(proc)
    assert heard == [created, created]
