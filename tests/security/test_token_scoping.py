"""Token scoping over real HTTP: an agent touches only its own tasks and tickets; admin routes refuse it."""

from __future__ import annotations

import importlib
import importlib.util
import re

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import inspect, select, text

from phaseloom.api.app import OPTIONAL_ROUTERS, ROUTERS
from phaseloom.api.deps import require_admin
from phaseloom.db.models import Base
from tests.security.conftest import bearer

READS = ("/api/tasks/{task}", "/api/tickets/{ticket}", "/api/tickets/{ticket}/history")
WRITES = (
    ("/api/tasks/{task}/heartbeat", {}),
    ("/api/tasks/{task}/start", None),
    ("/api/tasks/{task}/complete", {"result": {"stolen": True}}),
    ("/api/tasks/{task}/fail", {"error": "sabotage", "retryable": False}),
    ("/api/tickets/{ticket}/transition", {"to_phase_id": "PHASE_DOING"}),
    ("/api/tickets/{ticket}/block", {"reason": "sabotage"}),
    ("/api/tickets/{ticket}/unblock", {"reason": "sabotage"}),
)


def _fill(path: str, side) -> str:
    return path.format(task=side.task_id, ticket=side.ticket_id)


def test_an_agent_cannot_read_or_change_another_agents_task_or_another_projects_ticket(scene):
    alice, bob = scene.alice, scene.bob
    with httpx.Client(base_url=scene.base, headers=bearer(bob.token), timeout=60) as as_bob:
        for path in READS:
            refused = as_bob.get(_fill(path, alice))
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["error"]["code"] == "forbidden"
            assert as_bob.get(_fill(path, bob)).status_code == 200, path  # its own: fine
        for path, body in WRITES:
            refused = as_bob.post(_fill(path, alice), json=body)
            assert refused.status_code == 403, (path, refused.text)
        spawn = {"ticket_id": alice.ticket_id, "phase_id": "PHASE_TODO", "title": "planted"}
        assert as_bob.post("/api/tasks", json=spawn).status_code == 403
        assert as_bob.post("/api/tasks/claim", json={"agent_id": alice.agent_id}).status_code == 403

    # Nothing Bob tried left a trace on Alice's side.
    with httpx.Client(base_url=scene.base, headers=bearer(scene.admin_token), timeout=60) as admin:
        task = admin.get(f"/api/tasks/{alice.task_id}").json()
        assert task["status"] == "claimed" and task["assigned_agent_id"] == alice.agent_id
        ticket = admin.get(f"/api/tickets/{alice.ticket_id}").json()
        assert ticket["phase_id"] == "PHASE_TODO"
        tasks = admin.get("/api/tasks", params={"ticket_id": alice.ticket_id}).json()["items"]
        assert [t["title"] for t in tasks] == ["do it"]


def _admin_only_routes() -> list[APIRoute]:
    """Every route that depends on ``require_admin``, found by walking the routers' dependency trees."""
    def needs_admin(dependant) -> bool:
        return any(d.call is require_admin or needs_admin(d) for d in dependant.dependencies)

    modules = [importlib.import_module(f"phaseloom.api.routers.{name}") for name in ROUTERS + OPTIONAL_ROUTERS
               if importlib.util.find_spec(f"phaseloom.api.routers.{name}")]
    return [r for m in modules for r in m.router.routes if isinstance(r, APIRoute) and needs_admin(r.dependant)]


def test_every_admin_only_route_refuses_an_agent_token(scene):
    routes = _admin_only_routes()
    assert len(routes) >= 5, [r.path for r in routes]  # the walk found the admin routes
    with httpx.Client(base_url=scene.base, headers=bearer(scene.alice.token), timeout=60) as as_alice:
        for route in routes:
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            for method in route.methods - {"HEAD", "OPTIONS"}:
                response = as_alice.request(method, path, json={})
                assert response.status_code == 403, (method, route.path, response.text)


def test_tokens_never_sit_in_the_database_in_plaintext(db, scene):
    secrets = [scene.admin_token, scene.alice.token, scene.bob.token]
    fragments = [t.rpartition(".")[2] for t in secrets]  # the secret part alone must not be there either
    found: list[str] = []
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if not inspect(conn).has_table(table.name):
                continue
            for row in conn.execute(select(table)):
                cells = " ".join(str(v) for v in row)
                found += [f"{table.name}: {f[:6]}…" for f in fragments if f in cells]
        hashes = [h for (h,) in conn.execute(text("SELECT token_hash FROM agents WHERE token_hash IS NOT NULL"))]
    assert not found
    assert len(hashes) == 2 and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)


def test_forged_and_malformed_tokens_are_401(scene):
    for token in ("plt_agent_alice", "plt_admin_1.x", "plt_agent_nobody.abc", "plt_admin_99999999999.abc",
                  "x" * 600, scene.alice.token + "x",
                  scene.alice.token.rpartition(".")[0] + "." + scene.bob.token.rpartition(".")[2]):
        response = httpx.get(f"{scene.base}/api/tickets", headers=bearer(token), timeout=60)
        assert response.status_code == 401, token
