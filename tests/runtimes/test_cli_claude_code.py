"""Claude Code, the real CLI, driven by plain ``phaseloom run --runtime command:claude-code``.

The model behind it is the loopback fake speaking Anthropic Messages (SSE); everything else is real:
the ``claude`` binary, phaseloom's MCP server it launches over stdio, git, the database. One fake
server is shared by the module; each test gives it its own script.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from phaseloom.runtimes.presets.claude_code import PRESET
from tests.runtimes.agent_e2e import assert_completed_with_its_summary, assert_not_completed_without_a_report, make_project, model_turns, require_cli
from tests.runtimes.fake_models import FakeModelServer, Script, Step, Turn
from tests.runtimes.fake_models.anthropic import rate_limit_error

SUMMARY = "Wrote hello.txt saying hello"


@pytest.fixture(scope="module")
def claude() -> str:
    return require_cli("claude")



def provider_env(server: FakeModelServer) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "fake-key",
            # No update checks, telemetry or error reports: there is no internet, and they would be noise.
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1"}


def hello_file(turn: Turn) -> dict[str, str]:
    """Write's arguments: Claude Code wants an absolute path; its system prompt names the working directory."""
    found = re.search(r"Primary working directory: (\S+)", turn.system)
    assert found, "Claude Code's system prompt no longer names its working directory"
    return {"file_path": f"{found.group(1)}/hello.txt", "content": "hello\n"}


def reporting_script() -> Script:
    return Script(steps=[Step(tool="mcp__phaseloom__get_my_task"), Step(tool="Write", args=hello_file),
                         Step(tool="mcp__phaseloom__complete_task", args={"result": SUMMARY}),
                         Step(text="hello.txt is written.")])


def run(project, model, script: Script, *extra: str):
    model.script = script
    model.requests.clear()
    return project.run("command:claude-code", provider_env(model), *extra, max_seconds=150)


def stream_events(project, kind: str) -> list[dict]:
    """The stream-json events of that type in the task's log (the CLI's own figures)."""
    log = (project.folder / ".phaseloom" / "logs" / "task-1.log").read_text()
    events = [json.loads(line) for line in log.splitlines() if line.startswith('{"type":')]
    return [event for event in events if event.get("type") == kind]


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_claude_code_completes_through_its_own_report(claude, model, tmp_path, db_url):
    project = make_project(tmp_path, url=db_url)
    proc = run(project, model, reporting_script())
    task = assert_completed_with_its_summary(project, proc, SUMMARY)
    # Activity is published live, at most every few seconds, so a quick run may have shown none yet.
    assert task.activity in (None, "mcp__phaseloom__get_my_task", "Write hello.txt", "mcp__phaseloom__complete_task")

    turns = model_turns(model)
    # phaseloom's tools were there from the very first request: the preset makes print mode wait for MCP.
    assert "mcp__phaseloom__complete_task" in {tool["name"] for tool in turns[0].body["tools"]}
    assert task.session_id == turns[0].headers["X-Claude-Code-Session-Id"]

    costs = project.costs()
    assert sum(c.input_tokens for c in costs) == len(turns) * model.script.input_tokens
    assert sum(c.output_tokens for c in costs) == len(turns) * model.script.output_tokens
    [result] = stream_events(project, "result")
    assert result["total_cost_usd"] > 0
    assert sum(c.amount for c in costs) == pytest.approx(result["total_cost_usd"])


def test_claude_code_that_never_reports_is_not_completed(claude, model, tmp_path):
    project = make_project(tmp_path)
    silent = Script(steps=[Step(tool="Write", args=hello_file), Step(text="I wrote hello.txt.")])
    run(project, model, silent)

    assert_not_completed_without_a_report(project, last_words="I wrote hello.txt.")


def test_claude_code_rate_limit_does_not_spend_a_retry(claude, model, tmp_path):
    project = make_project(tmp_path)
    script = reporting_script()
    script.errors.append(rate_limit_error(retry_after_seconds=1))
    proc = run(project, model, script)

    assert script.errors == []                             # the 429 was served
    [retry] = [e for e in stream_events(project, "system") if e.get("subtype") == "api_retry"]
    assert retry["error_status"] == 429                    # ... and Claude Code retried it itself
    [task] = project.tasks()
    assert task.status == "completed", (task.error, proc.stdout)
    assert task.result["summary"] == SUMMARY
    assert task.retry_count == 0


def test_claude_code_bad_flag_is_permanent(claude, model, tmp_path):
    project = make_project(tmp_path)
    argv = list(PRESET.argv)
    argv.insert(argv.index("--"), "--no-such-flag")
    model.script = reporting_script()
    model.requests.clear()
    proc = project.run("command", provider_env(model), "--agent-command", shlex.join(argv), max_seconds=60)

    [task] = project.tasks()
    assert task.status == "failed", (task.status, proc.stdout, proc.stderr)
    assert (task.error_class, task.retry_count) == ("permanent", 0)
    assert task.error.startswith("usage:")
    assert "--no-such-flag" in task.error
    assert task.retry_count == 0                           # never retried: a person must fix the command
    assert model.model_requests() == []
