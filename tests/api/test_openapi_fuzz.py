"""Schemathesis over the OpenAPI schema: no generated request, valid or not, gets a 500."""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import register_agent

EXAMPLES = 100
_REQUEST_ARGS = {"method", "url", "params", "headers", "json", "content", "data", "files"}


def _seed(client) -> None:
    """Rows for low ids to hit: a ticket with tasks, a claimed task, an agent."""
    agent_id, _ = register_agent(client, "fuzz-agent", agent_id="a1")
    for title in ("one", "two"):
        ticket = client.post("/api/tickets", json={"project": "p", "title": title}).json()
        client.post("/api/tasks", json={"ticket_id": ticket["id"], "phase_id": "PHASE_TODO", "title": title})
    client.post("/api/tasks/claim", json={"agent_id": agent_id})


def test_no_server_error_for_any_generated_request(app, client, tiny):
    _seed(client)
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    auth = {"Authorization": client.headers["authorization"]}
    failures: list[str] = []
    statuses: Counter[int] = Counter()

    @given(case=schema.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def no_500(case):
        # Through the one running client: the app's lifespan (MCP, events) starts once, not per call.
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=auth)
        if isinstance(kwargs.get("data"), (bytes, str)):
            kwargs["content"] = kwargs.pop("data")
        response = client.request(**{k: v for k, v in kwargs.items() if k in _REQUEST_ARGS})
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} {case.query} {case.body!r:.300}"
                            f" -> {response.status_code} {response.text[:300]}")
        else:
            assert response.headers.get("content-type", "").startswith("application/json") or \
                response.status_code == 204
        assert response.status_code < 500, failures[-1]

    no_500()
    assert not failures
    # The run reached handlers, not only the validation layer.
    assert sum(n for status, n in statuses.items() if status < 300) > 0, statuses
    assert statuses[404] + statuses[409] > 0, statuses
