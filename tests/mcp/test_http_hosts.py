"""DNS-rebinding protection and session ids of MCP over HTTP, against the app served on 127.0.0.1."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from phaseloom.api.app import create_app
from phaseloom.config import Settings
from phaseloom.mcp.http import host_check
from tests.api.live_server import ThreadedServer
from tests.mcp.test_http import client_for

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "1"}}}


def _post(url: str, token: str, **headers: str) -> httpx.Response:
    return httpx.post(url, json=INITIALIZE, timeout=10, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream", **headers})


def test_a_rebinding_host_or_origin_is_refused_even_with_a_valid_token(mcp_http, scene):
    evil_host = _post(mcp_http.url, scene.token, Host="evil.example.com")
    evil_origin = _post(mcp_http.url, scene.token, Origin="http://evil.example.com")
    both = _post(mcp_http.url, scene.token, Host="evil.example.com", Origin="http://evil.example.com")
    other_port = _post(mcp_http.url, scene.token, Host="localhost:1")
    assert (evil_host.status_code, evil_origin.status_code, both.status_code) == (421, 403, 421)
    assert other_port.status_code == 421
    for name in ("127.0.0.1", "localhost", "[::1]"):
        ok = _post(mcp_http.url, scene.token, Host=f"{name}:{mcp_http.port}", Origin=f"http://{name}:{mcp_http.port}")
        assert ok.status_code == 200, (name, ok.text)
        assert len(ok.headers["mcp-session-id"]) == 32  # a session id, as the SDK's session manager makes


def test_the_host_check_comes_before_the_token(mcp_http):
    assert _post(mcp_http.url, "not-a-token", Host="evil.example.com").status_code == 421
    assert _post(mcp_http.url, "not-a-token").status_code == 401


def test_configured_hosts_are_accepted_and_star_turns_the_check_off(db, scene):
    settings = Settings(database_url=db.url, mcp_allowed_hosts="phaseloom.internal, proxy.lan:*")
    with ThreadedServer(create_app(db, settings), path="/mcp") as server:
        named = _post(server.url, scene.token, Host="phaseloom.internal")
        any_port = _post(server.url, scene.token, Host="proxy.lan:9999", Origin="https://proxy.lan:9999")
        evil = _post(server.url, scene.token, Host="evil.example.com")
    with ThreadedServer(create_app(db, Settings(database_url=db.url, mcp_allowed_hosts="*")), path="/mcp") as server:
        anything = _post(server.url, scene.token, Host="evil.example.com")
    assert (named.status_code, any_port.status_code, evil.status_code, anything.status_code) == (200, 200, 421, 200)


def test_a_non_loopback_bind_accepts_its_own_address_only():
    check = host_check(("10.1.2.3", 8765))
    assert check.allowed_hosts == ["10.1.2.3:8765"]
    assert "http://10.1.2.3:8765" in check.allowed_origins and "localhost:8765" not in check.allowed_hosts
    assert host_check(("::1", 80)).allowed_hosts[0] == "[::1]:80"


def test_a_client_keeps_its_session_id_across_concurrent_requests(mcp_http, scene):
    """What multi-stream clients rely on: one id from initialize, echoed on every later request."""
    async def session():
        async with client_for(mcp_http.url, scene.token) as client:
            listed = await asyncio.gather(*(client.list_tools() for _ in range(3)))
            return listed
    listed = asyncio.run(session())
    assert all("get_my_task" in {t.name for t in tools.tools} for tools in listed)
    first = _post(mcp_http.url, scene.token)
    session_id = first.headers["mcp-session-id"]
    again = httpx.post(mcp_http.url, timeout=10, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                       headers={"Authorization": f"Bearer {scene.token}", "mcp-session-id": session_id,
                                "Accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"})
    assert again.status_code == 200 and again.headers["mcp-session-id"] == session_id


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
