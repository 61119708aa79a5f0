"""The argv each preset resumes its CLI's session with (the real CLIs run it in test_cli_ask_human.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from phaseloom.runtimes.command import CommandRuntime
from tests.runtimes.conftest import make_assignment

ANSWER = "A person answered: use port 8765."


def prepared(name: str, tmp_path: Path, **resume) -> list[str]:
    (tmp_path / "wt").mkdir(exist_ok=True)
    task = SimpleNamespace(id=7, ticket_id=3, phase_id="PHASE_IMPLEMENTATION")
    assignment = make_assignment(task, SimpleNamespace(id="a1"), tmp_path / "wt", log_path=tmp_path / "logs/t.log",
                                 instructions="Do the task.", mcp_url="", database_url="sqlite:///p.db", **resume)
    return CommandRuntime(preset_name=name).prepare(assignment)[0]


@pytest.mark.parametrize(("name", "resumed_at"), [
    ("claude-code", ["--resume", "sess-9", "--", ANSWER]),
    ("codex", ["sess-9", "--", ANSWER]),
    ("opencode", ["--session", "sess-9"]),
])
def test_a_resumed_run_passes_the_session_and_the_answer_as_the_prompt(name, resumed_at, tmp_path):
    fresh = prepared(name, tmp_path)
    argv = prepared(name, tmp_path, resume_session_id="sess-9", resume_message=ANSWER)

    assert CommandRuntime(preset_name=name).resumes_sessions
    assert "Do the task." in fresh and "Do the task." not in argv  # the answer is the next message
    assert argv[-1] == ANSWER
    at = argv.index(resumed_at[0])
    assert argv[at:at + len(resumed_at)] == resumed_at
    if name == "codex":  # `exec resume` takes no --sandbox: the same setting as an override
        assert argv[:3] == ["codex", "exec", "resume"] and "--sandbox" not in argv
        assert argv[argv.index('sandbox_mode="workspace-write"') - 1] == "-c"
    if name == "opencode":
        assert "--title" not in argv  # the session keeps its own title


def test_a_cli_without_sessions_runs_fresh_whatever_the_assignment_says(tmp_path):
    assert not CommandRuntime(preset_name="aider").resumes_sessions
    assert not CommandRuntime("my-agent --prompt-file {prompt_file}").resumes_sessions
    fresh = prepared("aider", tmp_path)
    assert prepared("aider", tmp_path, resume_session_id="sess-9", resume_message=ANSWER) == fresh
