"""``phaseloom init`` prints an admin token once; ``phaseloom serve`` answers real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

CLI = [sys.executable, "-m", "phaseloom.cli.app"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(db_url: str, home) -> dict:
    return {**os.environ, "PHASELOOM_DATABASE_URL": db_url, "PHASELOOM_HOME": str(home)}


def _wait_until_serving(proc: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve did not answer within 30 s")


@pytest.mark.slow
def test_init_token_then_serve_over_real_http(db_url, tmp_path):
    env = _env(db_url, tmp_path)
    init = subprocess.run([*CLI, "init"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    token = next(line for line in init.stdout.splitlines() if line.startswith("plt_admin_"))
    again = subprocess.run([*CLI, "init"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "plt_admin_" not in again.stdout and "already configured" in again.stdout

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_serving(proc, base)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            names = [w["name"] for w in http.get("/api/workflows").json()["items"]]
            assert names == ["research", "software_development"]
            assert http.post("/api/projects", json={"name": "live"}).status_code == 201
            ticket = http.post("/api/tickets", json={"project": "live", "title": "over the wire"}).json()
            moved = http.post(f"/api/tickets/{ticket['id']}/transition", json={"to_phase_id": "PHASE_REQUIREMENTS"})
            assert moved.json()["phase_id"] == "PHASE_REQUIREMENTS"
            assert http.get("/openapi.json").json()["info"]["title"] == "phaseloom"
            assert httpx.get(f"{base}/api/tickets", timeout=10).status_code == 401
        rotated = subprocess.run([*CLI, "token", "create-admin"], env=env, cwd=tmp_path, capture_output=True,
                                 text=True, timeout=60)
        new_token = rotated.stdout.strip().splitlines()[-1]
        assert new_token.startswith("plt_admin_") and new_token != token
        assert httpx.get(f"{base}/api/tickets", headers=headers, timeout=10).status_code == 401
        fresh = httpx.get(f"{base}/api/tickets", headers={"Authorization": f"Bearer {new_token}"}, timeout=10)
        assert fresh.status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_refuses_a_public_address_without_auth(tmp_path):
    env = _env(f"sqlite:///{tmp_path}/fresh.db", tmp_path)
    # A database without an admin token (only `init` creates one, and serve refuses a missing database).
    subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=tmp_path, capture_output=True, timeout=60, check=True)
    result = subprocess.run([*CLI, "serve", "--host", "0.0.0.0", "--port", str(_free_port())], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 without auth" in result.stderr
