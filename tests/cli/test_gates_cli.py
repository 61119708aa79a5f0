"""``phaseloom gate``, ``discovery`` and ``graph`` as a user runs them: real subprocesses, SQLite file."""

from __future__ import annotations

import json

from tests.services.test_gates import REQUIREMENTS
from tests.cli.support import run


def test_gate_check_discovery_and_graph(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    run(tmp_path, "init")
    run(tmp_path, "project", "create", "demo")
    run(tmp_path, "ticket", "create", "demo", "Add login")
    run(tmp_path, "ticket", "move", "1", "PHASE_REQUIREMENTS")
    run(tmp_path, "task", "create", "1", "PHASE_REQUIREMENTS", "write requirements")

    failed = run(tmp_path, "gate", "check", "1", "--workspace", str(workspace), check=False)
    assert failed.returncode == 1
    assert "gate of PHASE_REQUIREMENTS for ticket 1: FAILED" in failed.stdout
    assert "required document requirements.md was not found" in failed.stdout
    assert "task 1 'write requirements' is pending" in failed.stdout

    (workspace / "requirements.md").write_text(REQUIREMENTS)
    better = run(tmp_path, "gate", "check", "1", "-w", str(workspace), check=False)
    assert better.returncode == 1 and "requirements.md was not found" not in better.stdout
    assert "✓ artifacts[0].criteria[1] (required_sections)" in better.stdout
    assert "✗ tasks (require_tasks_completed)" in better.stdout

    recorded = run(tmp_path, "discovery", "record", "bug_found", "login crashes on empty email", "--task", "1",
                   "--spawn-phase", "PHASE_IMPLEMENTATION", "--boost").stdout
    assert "discovery 1 (bug_found) recorded on ticket 1; spawned task(s) 2 in PHASE_IMPLEMENTATION" in recorded
    listed = run(tmp_path, "discovery", "list", "--ticket", "1", "--type", "bug_found", "--status", "open").stdout
    assert "bug_found" in listed and "PHASE_IMPLEMENTATION" in listed and "login crashes on empty email" in listed
    [found] = json.loads(run(tmp_path, "discovery", "list", "--ticket", "1", "--json").stdout)  # the API's shape
    assert (found["id"], found["discovery_type"], found["spawned_task_ids"]) == (1, "bug_found", [2])

    graph = json.loads(run(tmp_path, "graph", "1", "--format", "json").stdout)
    assert [e["type"] for e in graph["edges"]] == ["discovery"]
    assert "-.->|bug_found|" in run(tmp_path, "graph", "1").stdout
