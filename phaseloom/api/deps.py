"""FastAPI dependencies: the unit of work, settings, and the authenticated caller.

Routers outside this package (events, the WebSocket, MCP) reuse :func:`current_principal`,
:func:`require_admin` and :func:`principal_for_token`.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Query, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from phaseloom.config import Settings
from phaseloom.db.engine import Database
from phaseloom.domain.errors import Unauthenticated
from phaseloom.schemas.api.common import MAX_ID, MAX_PAGE
from phaseloom.services.auth import ADMIN, AuthService, Principal
from phaseloom.db.unit_of_work import UnitOfWork

bearer = HTTPBearer(auto_error=False, description="an admin token, or the token an agent got at registration")


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_uow(request: Request) -> UnitOfWork:
    uow = UnitOfWork(request.app.state.db, settings=request.app.state.settings)
    # Once /ws has subscribers, the event bus exists: commits wake them at once (not at the next poll).
    bus = getattr(request.app.state, "event_bus", None)
    return bus.attach(uow) if bus is not None else uow


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def principal_for_token(db: Database, token: str | None, client_host: str | None) -> Principal:
    """Authenticate a bearer token.

    Without a token, a caller on this machine is admin while no admin token exists at all
    (auth not configured yet, which ``serve`` allows only on a loopback address); anyone else
    gets :class:`Unauthenticated`.
    """
    auth = AuthService(UnitOfWork(db, readonly=True))
    if token:
        return auth.authenticate(token)
    if is_loopback(client_host) and not auth.has_admin_token():
        return ADMIN
    return auth.authenticate(None)


def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    token = credentials.credentials if credentials else None
    if token is None and request.headers.get("authorization"):
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return principal_for_token(request.app.state.db, token, request.client.host if request.client else None)


def require_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    principal.require_admin()
    return principal


def websocket_principal(websocket: WebSocket) -> Principal:
    """The caller of a WebSocket: ``Authorization: Bearer`` header, or ``?token=`` (browsers cannot set headers)."""
    header = websocket.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else websocket.query_params.get("token")
    client = websocket.client.host if websocket.client else None
    return principal_for_token(websocket.app.state.db, token or None, client)


Uow = Annotated[UnitOfWork, Depends(get_uow)]
Caller = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(require_admin)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size, at most {MAX_PAGE}")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
