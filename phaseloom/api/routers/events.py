"""Events over HTTP: ``GET /api/events`` (pages of the outbox) and the ``/ws`` WebSocket.

WebSocket protocol. Connect to ``/ws?since=<last id seen>&project_id=&ticket_id=&phase_id=&types=a,b``
with ``token=<bearer>`` in the query (browsers) or an ``Authorization: Bearer`` header. The server
sends JSON text messages:

- ``{"type": "event", "event": {...}}`` for each event, in id order, each exactly once;
- ``{"type": "ready", "last_id": N}`` once the missed events (after ``since``) have been sent;
- ``{"type": "ping", "last_id": N}`` after ``ws_heartbeat_seconds`` without traffic.

Without ``since`` only events committed after the connection are sent. A client that lets
``ws_queue_size`` events pile up is closed with code 4001; it reconnects with ``since`` and
loses nothing. Messages from the client are ignored (send anything to keep proxies happy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, WebSocket
from pydantic import BaseModel

from phaseloom.api.deps import Caller, websocket_principal
from phaseloom.config import Settings, get_settings
from phaseloom.domain.errors import PhaseloomError
from phaseloom.domain.identifiers import is_number
from phaseloom.services.auth import Principal
from phaseloom.events import MAX_PAGE, EventFilter, EventHub, EventLog, EventStream, InProcessBus, create_event_bus
from phaseloom.db.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

MAX_EVENT_ID = 2**63 - 1
MAX_ID = 2**31 - 1
CLOSE_TOO_SLOW = 4001
CLOSE_POLICY = 1008


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    hub = getattr(app.state, "event_hub", None)
    if hub is not None:
        await hub.stop()


router = APIRouter(tags=["events"], lifespan=_lifespan)


# -- wiring ------------------------------------------------------------------------
def _settings(app: FastAPI) -> Settings:
    return getattr(app.state, "settings", None) or get_settings()


def event_bus(app: FastAPI) -> InProcessBus:
    """The app's bus, made on first use from ``app.state.db`` and ``app.state.settings``.

    Units of work made with ``event_bus(app).unit_of_work(db)`` wake the app's subscribers
    the moment they commit (on PostgreSQL, NOTIFY does that for every writer anyway).
    """
    bus = getattr(app.state, "event_bus", None)
    if bus is None:
        bus = app.state.event_bus = create_event_bus(app.state.db, _settings(app))
    return bus


def event_hub(app: FastAPI) -> EventHub:
    hub = getattr(app.state, "event_hub", None)
    if hub is None:
        settings = _settings(app)
        hub = app.state.event_hub = EventHub(
            app.state.db, event_bus(app), poll_seconds=settings.event_poll_seconds,
            batch_size=min(500, settings.ws_queue_size))
    return hub


def scoped_filter(principal: Principal, event_filter: EventFilter) -> EventFilter:
    """Agents bound to a project see that project's events only (see api/scoping.py)."""
    project_id = principal.readable_project(event_filter.project_id)
    if project_id == event_filter.project_id:
        return event_filter
    return EventFilter(project_id, event_filter.ticket_id, event_filter.phase_id, event_filter.types)


# -- GET /api/events -------------------------------------------------------------------
class EventOut(BaseModel):
    id: int
    event_type: str
    entity_type: str
    entity_id: str
    project_id: int | None
    ticket_id: int | None
    phase_id: str | None
    payload: dict[str, Any]
    created_at: str | None


class EventPageOut(BaseModel):
    """Events after ``since``; ask again with ``since=last_id`` (``has_more`` says whether to hurry)."""

    events: list[EventOut]
    last_id: int
    has_more: bool


def _filter_query(
    project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ticket_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    phase_id: Annotated[str | None, Query(max_length=100)] = None,
    types: Annotated[str | None, Query(max_length=2000, description="comma-separated event types")] = None,
) -> EventFilter:
    return EventFilter.build(project_id=project_id, ticket_id=ticket_id, phase_id=phase_id, types=types)


@router.get("/api/events", response_model=EventPageOut)
def list_events(
    request: Request,
    principal: Caller,
    event_filter: Annotated[EventFilter, Depends(_filter_query)],
    since: Annotated[int, Query(ge=0, le=MAX_EVENT_ID, description="last event id already seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    outbox = EventLog(UnitOfWork(request.app.state.db, readonly=True))
    events = outbox.events_since(since, scoped_filter(principal, event_filter), limit)
    return {"events": events, "last_id": events[-1]["id"] if events else since, "has_more": len(events) == limit}


# -- WebSocket /ws ---------------------------------------------------------------------
def _ws_subscription(ws: WebSocket) -> tuple[EventFilter, int | None]:
    """Parse the query; raises ValueError with a reason on bad input."""
    params = ws.query_params

    def number(name: str, maximum: int) -> int | None:
        raw = params.get(name)
        if raw in (None, ""):
            return None
        if not is_number(raw) or not 0 <= int(raw) <= maximum:
            raise ValueError(f"{name} must be a whole number between 0 and {maximum}")
        return int(raw)

    phase_id = params.get("phase_id") or None
    if phase_id is not None and len(phase_id) > 100:
        raise ValueError("phase_id is too long")
    event_filter = EventFilter.build(project_id=number("project_id", MAX_ID), ticket_id=number("ticket_id", MAX_ID),
                                     phase_id=phase_id, types=params.get("types", "")[:2000])
    return event_filter, number("since", MAX_EVENT_ID)


@router.websocket("/ws")
async def websocket_events(ws: WebSocket) -> None:
    try:
        principal = await asyncio.to_thread(websocket_principal, ws)
        event_filter, since = _ws_subscription(ws)
        event_filter = scoped_filter(principal, event_filter)
    except (PhaseloomError, ValueError) as exc:
        # Closing before accepting answers the handshake with HTTP 403.
        await ws.close(code=CLOSE_POLICY, reason=str(exc)[:120])
        return
    await ws.accept()
    settings = _settings(ws.app)
    hub = event_hub(ws.app)
    await hub.start()
    stream = EventStream(hub, event_filter, since, queue_size=settings.ws_queue_size)
    sender = asyncio.create_task(_send_events(ws, stream, settings.ws_heartbeat_seconds))
    receiver = asyncio.create_task(_drain_client(ws))
    dropped = asyncio.create_task(stream.dropped.wait())
    try:
        await asyncio.wait({sender, receiver, dropped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stream.close()
        for task in (sender, receiver, dropped):
            task.cancel()
        await asyncio.gather(sender, receiver, dropped, return_exceptions=True)
    if stream.dropped.is_set():
        await _close_quietly(ws, CLOSE_TOO_SLOW, f"client too slow; reconnect with since={stream.cursor}")
    elif sender.done() and not sender.cancelled() and sender.exception() is not None:
        log.warning("event stream failed: %s", sender.exception())
        await _close_quietly(ws, 1011, "event stream failed; reconnect with since")


async def _send_events(ws: WebSocket, stream: EventStream, heartbeat: float) -> None:
    async for event in stream.backlog():
        await ws.send_json({"type": "event", "event": event})
    await ws.send_json({"type": "ready", "last_id": stream.cursor})
    while True:
        event = await stream.next_live(heartbeat)
        if event is None:
            await ws.send_json({"type": "ping", "last_id": stream.cursor})
        else:
            await ws.send_json({"type": "event", "event": event})


async def _drain_client(ws: WebSocket) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _close_quietly(ws: WebSocket, code: int, reason: str) -> None:
    # A client that stopped reading may never take the close frame; don't wait on it forever.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code=code, reason=reason), 2.0)
