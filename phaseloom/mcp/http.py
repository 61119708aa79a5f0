"""Streamable HTTP for the MCP server: a standalone ASGI app, or mounted at ``/mcp`` in the FastAPI app.

Every HTTP request must carry ``Authorization: Bearer <token>``; one that does not, or whose token
matches nothing, gets a 401 before it reaches the MCP session layer. The resolved principal rides
in the ASGI scope's ``state`` so the policy gate does not look it up again.

DNS rebinding: before the token is even looked at, the ``Host`` (and any ``Origin``) must name the
address the request arrived on (``scope["server"]``: the bind address and port of ``serve``, or
``localhost``/``127.0.0.1``/``[::1]`` at that port when it arrived on loopback), or one of the
``mcp_allowed_hosts`` setting. A page on ``evil.example.com`` that rebinds its name to 127.0.0.1
gets a 421/403, whatever it sends. The check is the MCP SDK's own (``TransportSecurityMiddleware``),
with settings computed for the address the request arrived on.

Sessions: the transport stays stateless (any ``serve`` process behind a balancer can answer any
request: all state is in the database), but an ``initialize`` answer carries an ``Mcp-Session-Id``
as the SDK's session manager gives one, and later answers echo the client's, so clients that
open several streams on one session (and wait for an id first) work.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any
from uuid import uuid4

import anyio.to_thread
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from phaseloom.config import Settings
from phaseloom.db.engine import Database
from phaseloom.domain.errors import PhaseloomError
from phaseloom.mcp.identity import SCOPE_STATE_KEY, authenticate, bearer_token
from phaseloom.mcp.server import build_mcp_server

MCP_PATH = "/mcp"


SESSION_HEADER = "mcp-session-id"
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


class RequireAgentToken:
    """ASGI wrapper: refuse a rebinding Host/Origin, resolve the bearer token or answer 401, give a session id."""

    def __init__(self, app: Any, db: Database, allowed_hosts: str = "") -> None:
        self.app = app
        self.db = db
        self.extra_hosts = tuple(h.strip().lower() for h in allowed_hosts.split(",") if h.strip())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "*" not in self.extra_hosts:
            guard = TransportSecurityMiddleware(host_check(scope.get("server"), self.extra_hosts))
            refused = await guard.validate_request(Request(scope))
            if refused is not None:
                await refused(scope, receive, send)
                return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            principal = await anyio.to_thread.run_sync(authenticate, self.db, bearer_token(headers))
        except PhaseloomError as exc:
            await _json_response(send, 401, {"error": {"code": exc.code, "message": str(exc)}},
                                 [(b"www-authenticate", b'Bearer realm="phaseloom"')])
            return
        scope.setdefault("state", {})[SCOPE_STATE_KEY] = principal
        await self.app(scope, receive, _with_session_id(send, headers.get(SESSION_HEADER)))


def _with_session_id(send: Any, given: str | None) -> Any:
    """Answer with the client's session id, or a new one (as the SDK's manager makes: uuid4 hex)."""
    session = (given or uuid4().hex).encode("latin-1")

    async def send_with_session(message: dict) -> None:
        if message["type"] == "http.response.start" and message.get("status", 500) < 400:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != SESSION_HEADER.encode()]
            message = {**message, "headers": [*headers, (SESSION_HEADER.encode(), session)]}
        await send(message)

    return send_with_session


@lru_cache(maxsize=64)
def host_check(server: tuple[str, int] | None, extra_hosts: tuple[str, ...] = ()) -> TransportSecuritySettings:
    """The Host/Origin values a request that arrived on ``server`` (address, port) may carry.

    The address and port it arrived on; at that port the loopback names too, when it arrived on
    loopback; and each configured host (``name`` alone means that name at this port or with no port,
    ``name:port`` exactly, ``name:*`` any port).
    """
    hosts: list[str] = []
    if server is not None:
        address, port = server[0], server[1]
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        name = f"[{address}]" if ip is not None and ip.version == 6 else address
        hosts.append(f"{name}:{port}")
        if ip is not None and ip.is_loopback:
            hosts += [f"{loopback}:{port}" for loopback in _LOOPBACK_NAMES]
        for extra in extra_hosts:
            hosts += [extra] if ":" in extra.rsplit("]", 1)[-1] else [extra, f"{extra}:{port}"]
    else:  # no address (not served over a socket): only the configured hosts
        hosts += list(extra_hosts)
    hosts = list(dict.fromkeys(hosts))
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


async def _json_response(send: Any, status: int, body: dict, extra_headers: list) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *extra_headers]})
    await send({"type": "http.response.body", "body": payload})


# The SDK's own check needs its allowed hosts fixed in advance, but they depend on the address each
# request arrived on: RequireAgentToken runs the same check per request, before the token is read.
CHECKED_BEFORE = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def mcp_route(db: Database, settings: Settings):
    """``(route, lifespan)``: the ``/mcp`` route and the context manager that must wrap the app's life."""
    server = build_mcp_server(db, settings)
    # Stateless: any `serve` process behind a balancer can answer any request.
    server.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True, transport_security=CHECKED_BEFORE)
    manager = server.session_manager
    route = Route(MCP_PATH, endpoint=RequireAgentToken(StreamableHTTPASGIApp(manager), db, settings.mcp_allowed_hosts))

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with manager.run():
            yield

    return route, lifespan


def mcp_asgi_app(db: Database, settings: Settings) -> Starlette:
    """A standalone ASGI app serving MCP at ``/mcp``."""
    route, lifespan = mcp_route(db, settings)

    @asynccontextmanager
    async def app_lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with lifespan():
            yield

    return Starlette(routes=[route], lifespan=app_lifespan)


def mount_mcp(app: Any, db: Database, settings: Settings) -> None:
    """Serve MCP at ``/mcp`` inside a FastAPI/Starlette ``app``, running its session manager with the app."""
    route, lifespan = mcp_route(db, settings)
    app.router.routes.append(route)
    outer = app.router.lifespan_context

    @asynccontextmanager
    async def combined(a: Any) -> AsyncIterator[Any]:
        async with lifespan():
            async with outer(a) as state:
                yield state

    app.router.lifespan_context = combined
