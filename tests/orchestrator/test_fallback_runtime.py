"""``fallback_runtime``: a run that ends on a rate limit is taken over at once by another runtime, in the
same worktree, told what the first agent did; through plain ``phaseloom run`` with two real commands."""

from __future__ import annotations

import json
import sys


from tests.runtimes.agent_e2e import WORKFLOW, make_project

# The first agent gets halfway, then its provider refuses it.
LIMITED = """
import pathlib, sys
pathlib.Path("notes.md").write_text("half done\\n")
print("Wrote notes.md; starting on hello.txt")
print("Error: 429 Too Many Requests: rate limit reached, retry after 600 seconds", file=sys.stderr)
sys.exit(1)
"""
# The fallback finishes the task, keeping its instructions to look at.
FALLBACK = """
import pathlib, shutil, sys
shutil.copy(sys.argv[1], sys.argv[2])
pathlib.Path("hello.txt").write_text("hello\\n")
print("Wrote hello.txt after the first agent's notes.md")
"""


def test_a_rate_limited_run_is_taken_over_by_the_fallback_runtime_with_the_attempt_so_far(tmp_path):
    limited, fallback, seen = tmp_path / "limited.py", tmp_path / "fallback.py", tmp_path / "seen.md"
    limited.write_text(LIMITED)
    fallback.write_text(FALLBACK)
    workflow = tmp_path / "workflow.yaml"
    setting = {"command": [sys.executable, str(fallback), "{prompt_file}", str(seen)]}
    workflow.write_text(WORKFLOW.read_text() + f"\nsettings:\n  fallback_runtime: {json.dumps(setting)}\n")
    project = make_project(tmp_path / "p", workflow=workflow)

    proc = project.phaseloom("run", "--agent-command", f"{sys.executable} {limited}", "--workers", "1",
                             "--validators", "0", "--quiet", "--until-idle", "--max-seconds", "60", check=False)

    [task] = project.tasks()
    assert (task.status, task.retry_count) == ("completed", 0), (task.error, proc.stdout, proc.stderr)
    assert project.ticket_file("hello.txt") == "hello\n" and project.ticket_file("notes.md") == "half done\n"
    told = seen.read_text()                         # the fallback's instructions: the task, then the attempt
    assert "## The attempt so far" in told and "Another agent (command) started this task" in told
    assert "429 Too Many Requests" in told and "Files it changed, left in your worktree: notes.md." in told
    [handed] = project.events("task.fallback_runtime")
    assert (handed.payload["from"], handed.payload["to"]) == ("command", "command")
    assert handed.payload["changed_files"] == ["notes.md"]
    assert project.events("pool.paused") == []   # the fallback took the task: nobody waits for the reset


def test_a_fallback_runtime_that_is_not_one_is_refused_when_the_workflow_loads(tmp_path):
    import pytest

    from phaseloom.domain.errors import WorkflowInvalid
    from phaseloom.loaders.sources import load_workflow_source

    bad = tmp_path / "bad.yaml"
    bad.write_text(WORKFLOW.read_text() + "\nsettings:\n  fallback_runtime: codex\n")
    with pytest.raises(WorkflowInvalid) as refused:
        load_workflow_source(bad)
    assert "settings.fallback_runtime: 'codex' is not a runtime; use 'command:<preset>'" in str(refused.value)
    assert f"{bad}:" in str(refused.value)                        # the file and line it is on
