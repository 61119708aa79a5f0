"""``/api/health`` checks the database (503 with the reason when it is down); ``/api/health/live`` does not."""

from __future__ import annotations

import socket
import threading

from fastapi.testclient import TestClient

from phaseloom.api.app import create_app
from phaseloom.api.routers.health import HEALTH_TIMEOUT_SECONDS
from phaseloom.config import Settings
from phaseloom.db.engine import Database
from tests.api.live_server import free_port


def test_health_reports_a_reachable_database_without_a_token(app, admin_token, db):
    with TestClient(app) as anonymous:  # auth is configured, and health still needs no token
        response = anonymous.get("/api/health")
        live = anonymous.get("/api/health/live")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "backend": db.backend, "database": "ok"}
    assert live.status_code == 200 and live.json() == {"status": "ok"}


def test_health_is_503_with_the_reason_when_the_database_is_down():
    closed_port = free_port()  # nothing listens there: the connection is refused at once
    down = Database.connect(f"postgresql+psycopg://postgres:secret@127.0.0.1:{closed_port}/test")
    try:
        client = TestClient(create_app(down, Settings(database_url=down.url)))  # no lifespan: it would connect
        response = client.get("/api/health")
        live = client.get("/api/health/live")
    finally:
        down.dispose()
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "unavailable" and body["database"] == "unreachable"
    assert body["backend"] == "postgresql"
    assert "OperationalError" in body["reason"] and str(closed_port) in body["reason"]
    assert "secret" not in body["reason"]
    # Liveness does not touch the database: the process is up, so it says so.
    assert live.status_code == 200 and live.json() == {"status": "ok"}


def test_health_is_503_when_the_database_accepts_and_never_answers():
    """A PostgreSQL port that accepts the connection and then says nothing: health answers 503 (after its
    own short deadline), instead of waiting as long as the driver would."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_stay_silent() -> None:
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                continue

    listener = threading.Thread(target=accept_and_stay_silent, daemon=True)
    listener.start()
    down = Database.connect(f"postgresql+psycopg://postgres:secret@127.0.0.1:{silent.getsockname()[1]}/test")
    try:
        client = TestClient(create_app(down, Settings(database_url=down.url)))
        response = client.get("/api/health")
    finally:
        stop.set()
        listener.join()
        for connection in accepted:
            connection.close()
        silent.close()
        down.dispose()
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["database"] == "unreachable" and body["backend"] == "postgresql"
    assert body["reason"] == f"TimeoutError: the database did not answer within {HEALTH_TIMEOUT_SECONDS:g} s"
    assert accepted, "the check reached the silent server"
