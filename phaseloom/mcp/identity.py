"""Who is calling: an agent token from the HTTP ``Authorization`` header, or from the environment on stdio.

The policy gate resolves the caller once per request and puts it in :data:`CURRENT_CALLER`, so the
tools (which the SDK runs in worker threads that copy the context) read it without re-checking.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar

from phaseloom.db.engine import Database
from phaseloom.domain.errors import Forbidden, Unauthenticated
from phaseloom.services.auth import AuthService, Principal
from phaseloom.db.unit_of_work import UnitOfWork

AGENT_TOKEN_ENV = "PHASELOOM_AGENT_TOKEN"
# Where the HTTP gate leaves the principal it resolved, in the ASGI scope's ``state``.
SCOPE_STATE_KEY = "phaseloom_principal"

CURRENT_CALLER: ContextVar[Principal | None] = ContextVar("phaseloom_mcp_caller", default=None)


def bearer_token(headers: Mapping[str, str] | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    value = (headers or {}).get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticate(db: Database, token: str | None) -> Principal:
    return AuthService(UnitOfWork(db, readonly=True)).authenticate(token)


def caller_for_request(db: Database, request: object | None) -> Principal:
    """The principal behind one MCP message: HTTP request state or header, else the stdio environment."""
    if request is None:
        return authenticate(db, os.environ.get(AGENT_TOKEN_ENV))
    state = getattr(request, "scope", {}).get("state") or {}
    principal = state.get(SCOPE_STATE_KEY)
    if isinstance(principal, Principal):
        return principal
    return authenticate(db, bearer_token(getattr(request, "headers", None)))


def current_agent_id() -> str:
    """The calling agent's id; the admin token has no tasks, so it cannot use the agent tools."""
    principal = CURRENT_CALLER.get()
    if principal is None:
        raise Unauthenticated("this MCP call carries no agent token")
    if principal.agent_id is None:
        raise Forbidden("MCP tools act for one agent: connect with that agent's token, not the admin token")
    return principal.agent_id
