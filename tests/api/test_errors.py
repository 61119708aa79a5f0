"""Every error class has a stable JSON shape and status: 404, 409, 422, 401, 403; never a 500."""

from __future__ import annotations

from tests.api.conftest import bearer, register_agent


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] and body["error"]["message"]
    return body["error"]


def test_unknown_ids_are_404_with_kind(client, tiny):
    for path, kind in (("/api/tickets/4242", "ticket"), ("/api/tasks/4242", "task"),
                       ("/api/projects/nope", "project"), ("/api/workflows/nope", "workflow"),
                       ("/api/agents/nope", "agent")):
        error = error_of(client.get(path), 404)
        assert error["code"] == "not_found" and error["kind"] == kind
    assert error_of(client.get("/api/phases/PHASE_NOPE", params={"workflow": "tiny"}), 404)["kind"] == "phase"
    assert error_of(client.get("/api/no/such/route"), 404)["code"] == "not_found"


def test_names_made_of_other_unicode_digits_are_names_not_ids(client, tiny):
    """'²' passes str.isdigit() but is no number: it is looked up as a name (found by the API fuzzer)."""
    for path, kind in (("/api/projects/²", "project"), ("/api/workflows/٣", "workflow")):
        assert error_of(client.get(path), 404)["kind"] == kind


def test_invalid_transition_is_409_listing_allowed_targets(client, tiny):
    ticket = client.post("/api/tickets", json={"project": "p", "title": "t"}).json()
    error = error_of(client.post(f"/api/tickets/{ticket['id']}/transition", json={"to_phase_id": "PHASE_DONE"}), 409)
    assert error["code"] == "invalid_transition"
    assert error["from_phase"] == "PHASE_TODO" and error["to_phase"] == "PHASE_DONE"
    assert error["allowed_targets"] == ["PHASE_DOING", "PHASE_BLOCKED"]
    # A board move to an unreachable column says the same.
    moved = client.post("/api/board/move", json={"ticket_id": ticket["id"], "column_id": "done"})
    assert error_of(moved, 409)["allowed_targets"] == ["PHASE_DOING", "PHASE_BLOCKED"]


def test_wip_limit_is_409_and_force_overrides(client, tiny):
    first, second = (client.post("/api/tickets", json={"project": "p", "title": t}).json() for t in ("a", "b"))
    assert client.post(f"/api/tickets/{first['id']}/transition", json={"to_phase_id": "PHASE_DOING"}).status_code == 200
    error = error_of(client.post(f"/api/tickets/{second['id']}/transition", json={"to_phase_id": "PHASE_DOING"}), 409)
    assert error["code"] == "wip_limit_reached"
    assert (error["column"], error["limit"], error["in_use"]) == ("doing", 1, 1)
    forced = client.post(f"/api/tickets/{second['id']}/transition", json={"to_phase_id": "PHASE_DOING", "force": True})
    assert forced.status_code == 200 and forced.json()["phase_id"] == "PHASE_DOING"


def test_bad_input_is_422_never_500(client, tiny):
    huge = 2**63 + 5
    assert error_of(client.get(f"/api/tickets/{huge}"), 422)["code"] == "invalid_input"
    assert error_of(client.post("/api/tickets", json={"project": "p"}), 422)["problems"][0]["loc"] == ["body", "title"]
    assert error_of(client.post("/api/tickets", json={"project": "p", "title": "x", "priority": "URGENT"}), 422)
    assert error_of(client.post("/api/tickets", json={"project": "p", "title": "nul\x00"}), 422)
    assert error_of(client.post("/api/tickets", content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert error_of(client.get("/api/tickets", params={"limit": 100_000}), 422)
    # Ids past the database's integer range in free-text references are refused, not crashed on.
    assert client.get(f"/api/projects/{huge}").status_code in (404, 422)
    assert client.get(f"/api/workflows/{huge}").status_code in (404, 422)


def test_invalid_workflow_upload_is_422_with_located_problems(client):
    bad = "name: bad\nphases:\n  - id: PHASE_A\n    allowed_transitions: [PHASE_NOWHERE]\n"
    error = error_of(client.post("/api/workflows", content=bad, headers={"content-type": "application/yaml"}), 422)
    assert error["code"] == "workflow_invalid"
    messages = {p["message"] for p in error["problems"]}
    assert "unknown transition target 'PHASE_NOWHERE'" in messages
    located = next(p for p in error["problems"] if "PHASE_NOWHERE" in p["message"])
    assert located["file"] == "upload" and located["line"] == 4
    syntax = client.post("/api/workflows", content="phases: [", headers={"content-type": "application/yaml"})
    assert "YAML syntax error" in error_of(syntax, 422)["problems"][0]["message"]


def test_missing_or_invalid_token_is_401(app, client):
    from fastapi.testclient import TestClient

    anonymous = TestClient(app)
    error = error_of(anonymous.get("/api/tickets"), 401)
    assert error["code"] == "unauthenticated"
    assert anonymous.get("/api/tickets").headers["www-authenticate"] == "Bearer"
    for header in ("Bearer plt_admin_1.wrong", "Bearer plt_agent_x.wrong", "Bearer garbage", "Basic dXNlcjpwdw=="):
        assert error_of(anonymous.get("/api/tickets", headers={"Authorization": header}), 401)["code"] == "unauthenticated"


def test_agent_token_on_admin_route_is_403(client, tiny):
    _agent_id, token = register_agent(client, "worker")
    for method, path, body in (("post", "/api/projects", {"name": "x"}),
                               ("post", "/api/tickets", {"project": "p", "title": "t"}),
                               ("post", "/api/agents", {"name": "another"}),
                               ("post", "/api/phases", {"workflow": "tiny", "id": "PHASE_X"})):
        error = error_of(getattr(client, method)(path, json=body, headers=bearer(token)), 403)
        assert error["code"] == "forbidden"
    upload = client.post("/api/workflows", content="name: x\n", headers={**bearer(token), "content-type": "text/plain"})
    assert error_of(upload, 403)["code"] == "forbidden"
