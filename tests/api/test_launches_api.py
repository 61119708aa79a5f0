"""``/api/launches``: the launch form and launching, over HTTP."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phaseloom.loaders.sources import load_workflow_source
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService
from tests.loaders.peer_support import PEER_FORMATS


@pytest.fixture
def triage(db):
    WorkflowService(UnitOfWork(db)).save_document(load_workflow_source(PEER_FORMATS / "crash_triage_sdk"))
    return "crash_triage_sdk"


def test_the_form_lists_the_parameters_and_a_launch_creates_ticket_and_task(client, triage):
    form = client.get(f"/api/launches/{triage}")
    assert form.status_code == 200, form.text
    assert [p["name"] for p in form.json()["parameters"]][:3] == ["crash_title", "crash_context", "severity"]
    made = client.post("/api/launches", json={"workflow": triage, "project": "crashes",
                                              "params": {"crash_title": "Boom", "attempts": 5, "flaky": True}})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["project_created"] and body["ticket"]["phase_id"] == "PHASE_COLLECT_EVIDENCE"
    assert "**Attempts:** 5 (flaky: true)" in body["prompt"]
    task = client.get(f"/api/tasks/{body['task_id']}").json()
    assert task["ticket_id"] == body["ticket"]["id"] and "Boom" in task["title"]


def test_bad_parameters_are_a_422_with_one_problem_each_and_nothing_created(client, triage):
    refused = client.post("/api/launches", json={"workflow": triage, "project": "crashes",
                                                 "params": {"attempts": "lots", "flaky": 3}})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "launch_invalid"
    assert {p["field"] for p in error["problems"]} == {"crash_title", "attempts", "flaky"}
    assert client.get("/api/tickets").json()["items"] == []
    assert all(p["name"] != "crashes" for p in client.get("/api/projects").json()["items"])
    assert client.get("/api/launches/nope").status_code == 404


NAMES = ["crash_title", "crash_context", "severity", "audience", "attempts", "flaky", "other"]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=30), st.sampled_from(["High", "Low", "true", "3", "", " "]))


def test_any_parameters_give_a_ticket_or_a_422_never_a_server_error(client, triage):
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(params=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=7))
    def launch(params):
        response = client.post("/api/launches", json={"workflow": triage, "project": "fuzz", "params": params})
        assert response.status_code in (201, 422), response.text
        if response.status_code == 422:
            assert response.json()["error"]["code"] in ("launch_invalid", "invalid_input")

    launch()
