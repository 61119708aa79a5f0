"""The FastAPI application: ``create_app(db, settings)``; OpenAPI at ``/docs`` and ``/redoc``, served offline."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from phaseloom.api.docs import mount_docs
from phaseloom.api.errors import install_error_handlers
from phaseloom.config import Settings, get_settings
from phaseloom.db.engine import Database
from phaseloom.schemas.api.common import ErrorBody

ROUTERS = ("health", "workflows", "phases", "projects", "tickets", "tasks", "agents", "board")
# Routers of capabilities that may not be installed in every build; each is a module with ``router``.
OPTIONAL_ROUTERS = ("events", "discoveries", "graph", "artifacts", "gates", "mcp_policies", "ui", "memories")
OPTIONAL_ROUTERS += ("costs", "stats")  # costs, budgets and the phase table (issue 8)
OPTIONAL_ROUTERS += ("launches",)  # launch templates (issue 16)
OPTIONAL_ROUTERS += ("questions",)  # Needs input: agents' questions and their answers (issue 21)

_ERRORS = {status: {"model": ErrorBody, "description": text} for status, text in (
    (401, "missing or invalid bearer token"), (403, "the token may not do this"), (404, "unknown id"),
    (409, "conflict: invalid transition (with allowed_targets), WIP limit, state"), (422, "invalid input"))}


def create_app(db: Database, settings: Settings | None = None) -> FastAPI:
    """Build the API over ``db``. Every route needs a bearer token (see :mod:`phaseloom.services.auth`)."""
    app = FastAPI(title="phaseloom", version="0.1.0", responses=_ERRORS, docs_url=None, redoc_url=None,
                  description="Tickets move through workflow phases; agents claim and finish tasks.")
    mount_docs(app)  # Swagger UI and ReDoc from a Python package's files, not a CDN
    from phaseloom.services.review_outcomes import wire_review_outcomes

    app.state.db = wire_review_outcomes(db)
    app.state.settings = settings or get_settings()
    install_error_handlers(app)
    for name in ROUTERS:
        app.include_router(importlib.import_module(f"phaseloom.api.routers.{name}").router)
    for name in OPTIONAL_ROUTERS:
        module_name = f"phaseloom.api.routers.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        app.include_router(module.router)

    from phaseloom.mcp.http import mount_mcp

    mount_mcp(app, db, app.state.settings)  # MCP over streamable HTTP at /mcp
    from phaseloom.api.metrics import mount_metrics

    mount_metrics(app, db)  # Prometheus at /metrics, read from the database
    return app
