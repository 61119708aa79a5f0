"""Read scoping over real HTTP: an agent bound to a project lists and reads that project's rows only."""

from __future__ import annotations

import httpx
import pytest

from tests.security.conftest import bearer

# Lists that name a project: asking for the other project is 403.
OTHER_PROJECT_QUERIES = (
    ("/api/tickets", {"project": "{project_name}"}),
    ("/api/tasks", {"project_id": "{project_id}"}),
    ("/api/discoveries", {"project_id": "{project_id}"}),
    ("/api/events", {"project_id": "{project_id}"}),
    ("/api/costs", {"project": "{project_id}"}),
    ("/api/stats", {"project": "{project_id}"}),
    ("/api/graph", {"project": "{project_id}"}),
)
# Single rows and ticket details of the other side: 403.
OTHER_SIDE_READS = ("/api/projects/{project_id}", "/api/board/{project_id}", "/api/tickets/{ticket}/gate",
                    "/api/tickets/{ticket}/artifacts", "/api/graph?ticket_id={ticket}",
                    "/api/costs/tasks/{task}", "/api/agents/{agent}")


def _fill(template: str, side, name: str) -> str:
    return template.format(project_id=side.project_id, project_name=name, ticket=side.ticket_id,
                           task=side.task_id, agent=side.agent_id)


@pytest.fixture
def as_bob(scene):
    with httpx.Client(base_url=scene.base, headers=bearer(scene.bob.token), timeout=60) as client:
        yield client


def test_unfiltered_lists_hold_only_the_agents_own_project(scene, as_bob):
    alice, bob = scene.alice, scene.bob
    assert [p["id"] for p in as_bob.get("/api/projects").json()["items"]] == [bob.project_id]
    assert {t["project_id"] for t in as_bob.get("/api/tickets").json()["items"]} == {bob.project_id}
    assert {t["id"] for t in as_bob.get("/api/tasks").json()["items"]} == {bob.task_id}
    assert [a["id"] for a in as_bob.get("/api/agents").json()["items"]] == [bob.agent_id]
    events = as_bob.get("/api/events", params={"limit": 500}).json()["events"]
    assert events and {e["project_id"] for e in events} == {bob.project_id}
    graph = as_bob.get("/api/graph").json()
    assert {n["task_id"] for n in graph["nodes"]} == {bob.task_id}
    # The admin sees both sides: the filtering is the token's, not an empty database.
    with httpx.Client(base_url=scene.base, headers=bearer(scene.admin_token), timeout=60) as admin:
        assert {p["id"] for p in admin.get("/api/projects").json()["items"]} == {alice.project_id, bob.project_id}
        assert {t["id"] for t in admin.get("/api/tasks").json()["items"]} == {alice.task_id, bob.task_id}


@pytest.mark.parametrize(("path", "query"), OTHER_PROJECT_QUERIES)
def test_asking_a_list_for_another_project_is_forbidden(scene, as_bob, path, query):
    params = {k: _fill(v, scene.alice, "alpha") for k, v in query.items()}
    refused = as_bob.get(path, params=params)
    assert refused.status_code == 403, (path, refused.text)
    assert refused.json()["error"]["code"] == "forbidden"
    own = {k: _fill(v, scene.bob, "beta") for k, v in query.items()}
    assert as_bob.get(path, params=own).status_code == 200, path


@pytest.mark.parametrize("template", OTHER_SIDE_READS)
def test_reading_the_other_sides_rows_is_forbidden(scene, as_bob, template):
    refused = as_bob.get(_fill(template, scene.alice, "alpha"))
    assert refused.status_code == 403, (template, refused.text)
    assert as_bob.get(_fill(template, scene.bob, "beta")).status_code == 200, template


def test_budgets_of_the_other_project_are_hidden(scene, as_bob):
    with httpx.Client(base_url=scene.base, headers=bearer(scene.admin_token), timeout=60) as admin:
        theirs = admin.post("/api/budgets", json={"scope": "project", "limit": 5, "project": "alpha"}).json()
        ours = admin.post("/api/budgets", json={"scope": "project", "limit": 5, "project": "beta"}).json()
    assert [b["id"] for b in as_bob.get("/api/budgets").json()] == [ours["id"]]
    assert as_bob.get(f"/api/budgets/{theirs['id']}").status_code == 403
    assert as_bob.get(f"/api/budgets/{ours['id']}").status_code == 200


@pytest.mark.parametrize("path", ["/api/projects/nowhere", "/api/board/nowhere", "/api/tickets?project=nowhere",
                                  "/api/stats?project=nowhere"])
def test_an_unknown_project_looks_like_another_projects_to_a_bound_agent(scene, as_bob, path):
    refused = as_bob.get(path)
    assert refused.status_code == 403, refused.text  # not 404: names of other projects stay secret
    with httpx.Client(base_url=scene.base, headers=bearer(scene.admin_token), timeout=60) as admin:
        assert admin.get(path).status_code == 404  # the admin learns the project does not exist
