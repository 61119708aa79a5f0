"""No request without a token changes state, on any route that could change it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from phaseloom.db.models import SystemEvent

MUTATING = {"post", "put", "patch", "delete"}


def test_every_state_changing_route_refuses_a_request_without_a_token(app, admin_token, db):
    routes = [(path, method) for path, item in app.openapi()["paths"].items() for method in item
              if method in MUTATING]
    assert len(routes) >= 15, routes
    with db.engine.connect() as conn:
        events_before = conn.scalar(select(func.count()).select_from(SystemEvent))
    with TestClient(app) as anonymous:  # auth is configured: an admin token exists
        for template, method in routes:
            response = anonymous.request(method.upper(), re.sub(r"\{[^}]+\}", "1", template), json={})
            assert response.status_code == 401, (method, template, response.status_code, response.text)
            assert response.json()["error"]["code"] == "unauthenticated"
    with db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SystemEvent)) == events_before
