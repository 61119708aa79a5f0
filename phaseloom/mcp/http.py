"""Streamable HTTP for the MCP server: a standalone ASGI app, or mounted at ``/mcp`` in the FastAPI app.

Every HTTP request must carry ``Authorization: Bearer <token>``; one that does not, or whose token
matches nothing, gets a 401 before it reaches the MCP session layer. The resolved principal rides
in the ASGI scope's ``state`` so the policy gate does not look it up again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Route

from phaseloom.config import Settings
from phaseloom.db.engine import Database
from phaseloom.domain.errors import PhaseloomError
from phaseloom.mcp.identity import SCOPE_STATE_KEY, authenticate, bearer_token
from phaseloom.mcp.server import build_mcp_server

MCP_PATH = "/mcp"


class RequireAgentToken:
    """ASGI wrapper: resolve the bearer token or answer 401 with the domain's message."""

    def __init__(self, app: Any, db: Database) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            principal = await anyio.to_thread.run_sync(authenticate, self.db, bearer_token(headers))
        except PhaseloomError as exc:
            await _json_response(send, 401, {"error": {"code": exc.code, "message": str(exc)}},
                                 [(b"www-authenticate", b'Bearer realm="phaseloom"')])
            return
        scope.setdefault("state", {})[SCOPE_STATE_KEY] = principal
        await self.app(scope, receive, send)


async def _json_response(send: Any, status: int, body: dict, extra_headers: list) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *extra_headers]})
    await send({"type": "http.response.body", "body": payload})


# DNS-rebinding protection guards servers that trust any caller who reaches them; every request
# here must carry a bearer token a rebinding web page cannot know, and `serve` may bind any host.
NO_HOST_CHECK = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def mcp_route(db: Database, settings: Settings):
    """``(route, lifespan)``: the ``/mcp`` route and the context manager that must wrap the app's life."""
    server = build_mcp_server(db, settings)
    # Stateless: any `serve` process behind a balancer can answer any request.
    server.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True, transport_security=NO_HOST_CHECK)
    manager = server.session_manager
    route = Route(MCP_PATH, endpoint=RequireAgentToken(StreamableHTTPASGIApp(manager), db))

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
