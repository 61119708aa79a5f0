"""The web UI: HTML pages and static files from ``phaseloom/web``, and the JSON it reads (``/api/ui``).

Pages and static files carry no data and need no token; every ``/api/ui`` route needs the admin
token: the UI is the operator's view of every project, and agent tokens have the scoped API
(``api/scoping.py``). The browser keeps the token in ``sessionStorage`` (see ``web/js/api.js``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Path as PathParam, Query
from fastapi.responses import FileResponse

from phaseloom.api.deps import Admin, Uow
from phaseloom.domain.errors import NotFound
from phaseloom.schemas.api.common import MAX_ID
from phaseloom.services.dashboard import DashboardService

WEB_ROOT = Path(__file__).resolve().parent.parent.parent / "web"
PAGES = {"": "board.html", "board": "board.html", "graph": "graph.html", "ticket": "ticket.html",
         "workflow": "workflow.html", "agents": "agents.html",
         "stats": "stats.html", "launch": "launch.html"}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}
# Same-origin only: no inline script, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["web ui"])
Id = Annotated[int, PathParam(ge=1, le=MAX_ID)]
ProjectRef = Annotated[str, Query(max_length=200)]


def _page_route(slug: str, filename: str) -> None:
    def page() -> FileResponse:
        return FileResponse(WEB_ROOT / filename, media_type="text/html", headers=SECURITY_HEADERS)

    router.add_api_route(f"/{slug}", page, methods=["GET"], include_in_schema=False, name=f"ui_page_{slug or 'home'}")


for _slug, _file in PAGES.items():
    _page_route(_slug, _file)


@router.get("/static/{name:path}", include_in_schema=False)
def static_file(name: str) -> FileResponse:
    root = (WEB_ROOT / "static").resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound("static file", name[:200])
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                        headers=SECURITY_HEADERS)


# -- data for the pages --------------------------------------------------------------
@router.get("/api/ui/board")
def board(uow: Uow, _admin: Admin, project: ProjectRef,
          priority: Annotated[str | None, Query(max_length=20)] = None) -> dict:
    """Columns (WIP use and limit) and cards with agents, open discoveries and gate state."""
    return DashboardService(uow).board(project, priority=priority or None)


@router.get("/api/ui/graph")
def graph(uow: Uow, _admin: Admin, ticket_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
          project: Annotated[str | None, Query(max_length=200)] = None) -> dict:
    """The workflow graph of a ticket or a project, with node coordinates (a lane per ticket: graph_layout.py)."""
    return DashboardService(uow).graph(ticket_id=ticket_id, project=project if ticket_id is None else None)


@router.get("/api/ui/tickets/{ticket_id}")
def ticket_page(ticket_id: Id, uow: Uow, _admin: Admin) -> dict:
    return DashboardService(uow).ticket_page(ticket_id)


@router.get("/api/ui/tickets/{ticket_id}/artifacts/{artifact_id}")
def artifact_text(ticket_id: Id, artifact_id: Id, uow: Uow, _admin: Admin) -> dict:
    return DashboardService(uow).artifact_text(ticket_id, artifact_id)


@router.get("/api/ui/tasks/{task_id}")
def task_detail(task_id: Id, uow: Uow, _admin: Admin) -> dict:
    return DashboardService(uow).task(task_id)


@router.get("/api/ui/workflow")
def workflow_page(uow: Uow, _admin: Admin, project: ProjectRef) -> dict:
    return DashboardService(uow).workflow_page(project)


@router.get("/api/ui/agents")
def agents_page(uow: Uow, _admin: Admin) -> list[dict]:
    return DashboardService(uow).agents_page()
