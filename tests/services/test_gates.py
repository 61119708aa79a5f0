"""Gate validation against real workspaces, real subprocesses and both databases."""

from __future__ import annotations

import json
import sys

import pytest
from sqlalchemy import select

from phaseloom.db.models import SystemEvent
from phaseloom.db.models.gates import GateResult
from phaseloom.domain.errors import InvalidInput
from phaseloom.services.gates import GateService
from phaseloom.services.progress import ProgressService
from phaseloom.services.projects import ProjectService
from phaseloom.services.tickets import TicketService
from tests.services.gate_support import finish_phase_tasks, save_workflow, ticket_in, two_phase_workflow

REQUIREMENTS = """# Overview
Users need to log in to see their own orders.

## Requirements
- Log in with an email address and a password.
- Lock the account for 15 minutes after five failed attempts.

## Acceptance Criteria
- A correct password opens the order page.
- A wrong password shows an error and no order data.
"""


def _custom_ticket(uow, name: str, gate: dict, **phase_extra) -> int:
    save_workflow(uow, two_phase_workflow(name, gate, **phase_extra))
    ProjectService(uow).create_project(name, name)
    return TicketService(uow).create_ticket(name, "work").id


def test_gate_fails_with_reasons_then_passes_after_artifact_added(uow, project, tmp_path):
    ticket_id = ticket_in(uow, project, "PHASE_REQUIREMENTS")
    ProgressService(uow).start_ticket(ticket_id)
    finish_phase_tasks(uow, ticket_id, "PHASE_REQUIREMENTS")
    gates = GateService(uow)

    failed = gates.validate_gate(ticket_id, workspace=tmp_path)
    assert not failed.passed
    assert failed.blocking_reasons == ["required document requirements.md was not found"]

    (tmp_path / "requirements.md").write_text("# Overview\nLogin.\n")
    stub = gates.validate_gate(ticket_id, workspace=tmp_path)
    assert stub.blocking_reasons == [
        "requirements.md is 17 characters long; at least 200 are required",
        "requirements.md is missing the section(s) Requirements, Acceptance Criteria",
    ]

    (tmp_path / "requirements.md").write_text(REQUIREMENTS)
    passed = gates.validate_gate(ticket_id, workspace=tmp_path)
    assert passed.passed and passed.blocking_reasons == []
    assert gates.latest_result(ticket_id).id == passed.id
    with uow:
        stored = uow.session.scalars(select(GateResult).where(GateResult.ticket_id == ticket_id)
                                     .order_by(GateResult.id)).all()
        assert [r.passed for r in stored] == [False, False, True]
        assert stored[0].blocking_reasons == ["required document requirements.md was not found"]
        events = uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "phase_gate.validated")
                                     .order_by(SystemEvent.id)).all()
        assert [e.payload["passed"] for e in events] == [False, False, True]
        assert events[0].phase_id == "PHASE_REQUIREMENTS"


def test_open_tasks_block_the_gate(uow, project, tmp_path):
    ticket_id = ticket_in(uow, project, "PHASE_REQUIREMENTS")
    (tmp_path / "requirements.md").write_text(REQUIREMENTS)
    task = ProgressService(uow).start_ticket(ticket_id)[0]
    result = GateService(uow).validate_gate(ticket_id, workspace=tmp_path)
    assert result.blocking_reasons == [f"task {task.id} 'carry out Requirements Analysis' is pending"]


def test_commands_run_in_the_workspace_without_a_shell(uow, project, tmp_path):
    script = ("import pathlib, sys; print('3 passed, 0 failed in 0.1s'); "
              "sys.exit(0 if pathlib.Path('ok').exists() else 1)")
    gate = {"require_tasks_completed": False, "criteria": [
        {"type": "command_success", "command": [sys.executable, "-c", script]},
        {"type": "test_pass", "command": [sys.executable, "-c", "print('2 passed, 1 failed in 0.2s')"]},
        {"type": "command_success", "command": [sys.executable, "-c", "import time; time.sleep(5)"],
         "timeout_seconds": 0.5},
        {"type": "command_success", "command": ["echo $HOME; definitely-not-a-program-xyz"]},
    ]}
    ticket_id = _custom_ticket(uow, "commands", gate)
    result = GateService(uow).validate_gate(ticket_id, workspace=tmp_path)
    reasons = result.blocking_reasons
    assert reasons[0].startswith(f"`{sys.executable} -c") and "exited with code 1" in reasons[0]
    assert reasons[1] == "tests failed: 2 passed, 1 failed, 0 errors"
    assert reasons[2].endswith("did not finish within 0.5 seconds")
    assert reasons[3].startswith("`echo $HOME; definitely-not-a-program-xyz` could not run")  # not a shell
    (tmp_path / "ok").write_text("")
    again = GateService(uow).validate_gate(ticket_id, workspace=tmp_path)
    assert again.outcomes[0]["passed"] and not again.outcomes[1]["passed"]

    no_workspace = GateService(uow).validate_gate(ticket_id)
    assert no_workspace.outcomes[0]["reason"].endswith("could not run: no workspace to run it in")


def test_manual_verification_passes_only_with_recorded_approval(uow):
    gate = {"require_tasks_completed": False, "criteria": [
        {"type": "file_exists", "target": "README.md"},
        {"type": "manual_verification", "target": "", "description": "login works in a browser"},
    ]}
    ticket_id = _custom_ticket(uow, "manual", gate)
    gates = GateService(uow)
    assert gates.validate_gate(ticket_id).blocking_reasons[-1] == \
        "needs a recorded approval (manual_verification): login works in a browser"
    with pytest.raises(InvalidInput, match="checked automatically"):
        gates.record_approval(ticket_id, 0, "alice")
    with pytest.raises(InvalidInput, match="has no criterion"):
        gates.record_approval(ticket_id, 7, "alice")
    approval = gates.record_approval(ticket_id, "criteria[1]", "alice", note="tried it")
    assert approval.criterion_key == "criteria[1]"
    outcome = gates.validate_gate(ticket_id).outcomes[-1]
    assert outcome["passed"] and outcome["reason"] == "approved: login works in a browser"


def test_done_definitions_ticked_with_evidence(uow):
    ticket_id = _custom_ticket(uow, "dod", {"require_tasks_completed": False, "require_done_definitions": True})
    gates = GateService(uow)
    assert gates.validate_gate(ticket_id).blocking_reasons == [
        "done definition(s) not ticked: 'Code written'; 'Docs updated'"]
    with pytest.raises(InvalidInput, match="needs evidence"):
        gates.tick_done_definition(ticket_id, 0, "  ")
    with pytest.raises(InvalidInput, match="has 2 done definition"):
        gates.tick_done_definition(ticket_id, 2, "x")
    gates.tick_done_definition(ticket_id, 0, "commit abc123", by="agent-1")
    gates.tick_done_definition(ticket_id, "Docs updated", "README section added", by="agent-1")
    checklist = gates.done_definitions(ticket_id)
    assert [(i.text, i.ticked, i.evidence, i.ticked_by) for i in checklist] == [
        ("Code written", True, "commit abc123", "agent-1"), ("Docs updated", True, "README section added", "agent-1")]
    assert gates.validate_gate(ticket_id).passed
    gates.tick_done_definition(ticket_id, 1, "", ticked=False)
    assert not gates.validate_gate(ticket_id).passed


def test_require_validation_without_reviews_blocks(uow):
    ticket_id = _custom_ticket(uow, "reviewed", {"require_tasks_completed": False, "require_validation": True})
    assert GateService(uow).validate_gate(ticket_id).blocking_reasons == [
        "no work in this phase has been reviewed yet"]


def test_stored_artifacts_count_without_a_workspace(uow, project):
    from phaseloom.services.artifacts import ArtifactService

    ticket_id = ticket_in(uow, project, "PHASE_REQUIREMENTS")
    ProgressService(uow).start_ticket(ticket_id)
    finish_phase_tasks(uow, ticket_id, "PHASE_REQUIREMENTS")
    ArtifactService(uow).record(ticket_id, "PHASE_REQUIREMENTS", "requirements.md", REQUIREMENTS.encode())
    assert GateService(uow).validate_gate(ticket_id).passed


def test_a_gate_command_runs_in_a_minimal_environment(tmp_path, monkeypatch):
    from phaseloom.services.gates import run_command

    monkeypatch.setenv("PHASELOOM_DATABASE_URL", "postgresql://secret@db/prod")
    monkeypatch.setenv("PHASELOOM_AGENT_TOKEN", "pl_secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://secret@db/prod")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    script = "import json, os; print(json.dumps(sorted(os.environ)))"
    ran = run_command((sys.executable, "-c", script), tmp_path, timeout=20)
    assert ran.exit_code == 0, ran.output
    seen = set(json.loads(ran.output))
    assert {"PATH", "LC_ALL", "TMPDIR", "PYTHONUNBUFFERED"} <= seen
    assert not {"PHASELOOM_DATABASE_URL", "PHASELOOM_AGENT_TOKEN", "DATABASE_URL", "OPENAI_API_KEY"} & seen
    from phaseloom.domain.environments import MINIMAL_NAMES

    # Nothing but the minimal names and the locale (Python may add LC_CTYPE itself).
    assert [n for n in seen if n not in MINIMAL_NAMES and not n.startswith("LC_") and n != "PYTHONUNBUFFERED"] == []
