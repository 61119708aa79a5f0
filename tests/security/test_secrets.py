"""Secrets never reach logs or the outbox: a real ``serve`` at DEBUG level, a flow that issues tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
from sqlalchemy import text
from websockets.sync.client import connect

from tests.api.conftest import TINY_WORKFLOW
from tests.api.live_server import _wait_for_health as wait_for_health
from tests.api.live_server import free_port, stop
from tests.security.conftest import bearer

CLI = [sys.executable, "-m", "phaseloom.cli.app"]


def _flow(base: str, admin: str) -> list[str]:
    """Register agents, claim, finish, watch events over WebSocket (token in the query); return the tokens."""
    with httpx.Client(base_url=base, headers=bearer(admin), timeout=60) as http:
        assert http.post("/api/workflows", content=TINY_WORKFLOW,
                         headers={"content-type": "application/yaml"}).status_code == 200
        assert http.post("/api/projects", json={"name": "p", "workflow": "tiny"}).status_code == 201
        ticket = http.post("/api/tickets", json={"project": "p", "title": "t"}).json()
        http.post("/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_TODO", "title": "work"})
        first = http.post("/api/agents", json={"name": "a"}).json()
        # Registering again rotates the token: both the old and the new one are secrets.
        again = http.post("/api/agents", json={"name": "a", "agent_id": first["agent"]["id"]}).json()
        agent_token = again["token"]
        task = http.post("/api/tasks/claim", json={}, headers=bearer(agent_token)).json()["task"]
        done = http.post(f"/api/tasks/{task['id']}/complete", json={"result": {"summary": "ok"}},
                         headers=bearer(agent_token))
        assert done.status_code == 200
        assert http.get("/api/tickets", headers=bearer(first["token"])).status_code == 401  # rotated out
    ws_url = base.replace("http://", "ws://") + f"/ws?since=0&token={agent_token}"
    with connect(ws_url, open_timeout=5, close_timeout=1) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] in ("event", "ready")
    return [admin, first["token"], agent_token]


def test_no_token_appears_in_serve_logs_or_in_system_events(db, db_url, tmp_path):
    created = subprocess.run([*CLI, "--database-url", db_url, "token", "create-admin"], capture_output=True,
                             text=True, timeout=60, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    admin = next(line for line in created.stdout.splitlines() if line.startswith("plt_admin_"))
    assert admin not in created.stderr  # shown once, on stdout only

    port = free_port()
    log_path = tmp_path / "serve.log"
    environ = {**os.environ, "PHASELOOM_DATABASE_URL": db_url, "PHASELOOM_HOME": str(tmp_path),
               "PHASELOOM_LOG_LEVEL": "DEBUG"}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=environ, cwd=tmp_path,
                                stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_for_health(proc, port)
            tokens = _flow(f"http://127.0.0.1:{port}", admin)
        finally:
            stop(proc)
    logs = log_path.read_text(errors="replace")
    assert "GET /api/tickets" in logs and "WebSocket" in logs, logs[-800:]  # the access log really was captured
    secrets = [t.rpartition(".")[2] for t in tokens]
    assert not [s[:6] for s in secrets if s in logs], "a token secret was written to the serve log"

    with db.engine.connect() as conn:
        events = [" ".join(map(str, row)) for row in conn.execute(text("SELECT * FROM system_events"))]
    assert any("auth.admin_token_created" in e for e in events)
    assert not [s[:6] for s in secrets if any(s in e for e in events)], "a token secret is in system_events"


def test_the_log_scrubber_redacts_query_tokens_and_bare_tokens_but_nothing_else():
    from phaseloom.api.log_redaction import REDACTED, redact

    assert redact("GET /ws?since=4&token=abc.def-1 HTTP/1.1") == f"GET /ws?since=4&token={REDACTED} HTTP/1.1"
    assert redact("bad token plt_agent_a1b2.Zx_9-q in header") == f"bad token {REDACTED} in header"
    assert redact("GET /api/tickets?project=p HTTP/1.1") == "GET /api/tickets?project=p HTTP/1.1"
    # percent-encoded names and values authenticate (the server decodes them): redacted all the same
    assert redact("GET /ws?%74oken=abc.def HTTP/1.1") == f"GET /ws?token={REDACTED} HTTP/1.1"
    assert redact("GET /ws?%74%6Fken=x%2Ey&since=2") == f"GET /ws?token={REDACTED}&since=2"
    assert redact("GET /ws?t=plt%5Fagent%5Fa1.Zx9") == f"GET /ws?t={REDACTED}"
    assert redact("GET /api/tickets?q=50%25 HTTP/1.1") == "GET /api/tickets?q=50%25 HTTP/1.1"
