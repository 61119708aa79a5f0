"""Codex CLI, the real binary, driven by plain ``phaseloom run --runtime command:codex``.

The model behind it is the loopback fake speaking OpenAI Responses (SSE), configured the way a user
configures a custom provider: ``model_providers.fake`` with ``wire_api = "responses"`` in
``$CODEX_HOME/config.toml``. Everything else is real: the ``codex`` binary, phaseloom's MCP server it
launches over stdio, its own ``apply_patch`` tool, git, the database. One fake server is shared by the
module; each test gives it its own script.

The configured model is one of Codex's own catalog (``gpt-5.5``), so Codex sends the request it sends
to OpenAI: ``apply_patch`` as a freeform tool and phaseloom's tools deferred behind ``tool_search``.
"""

from __future__ import annotations

import json
import shlex
import time
from datetime import datetime, timezone

import pytest

from phaseloom.runtimes.presets.codex import PRESET
from tests.runtimes.agent_e2e import assert_completed_with_its_summary, assert_not_completed_without_a_report, make_project, model_turns, require_cli
from tests.runtimes.fake_models import FakeModelServer, Reply, Script, Step
from tests.runtimes.fake_models.responses import rate_limited

SUMMARY = "Wrote hello.txt saying hello"
MODEL = "gpt-5.5"
HELLO_PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
API_KEY_VAR = "FAKE_OPENAI_KEY"


@pytest.fixture(scope="module")
def codex() -> str:
    return require_cli("codex")



def provider_env(project, server: FakeModelServer) -> dict[str, str]:
    """A CODEX_HOME whose config.toml points Codex at the fake, as a user's custom provider would."""
    home = project.folder / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "{MODEL}"\nmodel_provider = "fake"\n\n'
        f'[model_providers.fake]\nname = "Fake Responses"\nbase_url = "{server.url}/v1"\n'
        f'wire_api = "responses"\nenv_key = "{API_KEY_VAR}"\n'
        # Fail fast on a broken stream instead of reconnecting five times.
        "stream_max_retries = 1\n")
    return {"CODEX_HOME": str(home), API_KEY_VAR: "fake-key"}


def reporting_script() -> Script:
    return Script(steps=[Step(tool="*get_my_task"), Step(tool="apply_patch", args={"input": HELLO_PATCH}),
                         Step(tool="*complete_task", args={"result": SUMMARY, "artifacts": ["hello.txt"]}),
                         Step(text="hello.txt is written.")])


def run(project, model, script: Script, *extra: str, runtime: str = "command:codex", max_seconds: float = 150):
    model.script = script
    model.requests.clear()
    return project.run(runtime, provider_env(project, model), *extra, max_seconds=max_seconds)


def stream_events(project, kind: str) -> list[dict]:
    """The ``exec --json`` events of that type in the task's log (Codex's own words)."""
    log = (project.folder / ".phaseloom" / "logs" / "task-1.log").read_text()
    events = [json.loads(line) for line in log.splitlines() if line.startswith('{"type":')]
    return [event for event in events if event.get("type") == kind]


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_codex_completes_through_its_own_report(codex, model, tmp_path, db_url):
    project = make_project(tmp_path, url=db_url)
    proc = run(project, model, reporting_script())
    task = assert_completed_with_its_summary(project, proc, SUMMARY)

    calls = [e["item"] for e in stream_events(project, "item.completed") if e["item"]["type"] == "mcp_tool_call"]
    assert [(c["server"], c["tool"], c["status"]) for c in calls] == [
        ("phaseloom", "get_my_task", "completed"), ("phaseloom", "complete_task", "completed")]
    [patch] = [e["item"] for e in stream_events(project, "item.completed") if e["item"]["type"] == "file_change"]
    assert patch["status"] == "completed" and patch["changes"][0]["path"].endswith("/hello.txt")

    turns = model_turns(model)
    [started] = stream_events(project, "thread.started")
    assert task.session_id == started["thread_id"] == turns[0].headers["session-id"]
    costs = project.costs()
    assert {c.model for c in costs} == {MODEL}        # from config.toml: the stream names no model
    assert sum(c.input_tokens for c in costs) == len(turns) * model.script.input_tokens
    assert sum(c.output_tokens for c in costs) == len(turns) * model.script.output_tokens


def test_codex_that_never_reports_is_not_completed(codex, model, tmp_path):
    project = make_project(tmp_path)
    silent = Script(steps=[Step(tool="apply_patch", args={"input": HELLO_PATCH}), Step(text="I wrote hello.txt.")])
    run(project, model, silent)

    assert_not_completed_without_a_report(project, last_words="I wrote hello.txt.")


def test_codex_retries_a_429_itself_without_spending_a_retry(codex, model, tmp_path):
    project = make_project(tmp_path)
    script = reporting_script()
    script.errors.append(rate_limited(retry_after=1))
    proc = run(project, model, script)

    assert script.errors == []                             # the 429 was served
    [task] = project.tasks()
    assert task.status == "completed", (task.error, proc.stdout)
    assert task.result["summary"] == SUMMARY
    assert task.retry_count == 0
    reconnects = [e["message"] for e in stream_events(project, "error")]
    assert reconnects and "429" in reconnects[0]           # ... Codex retried it on its own


def test_codex_usage_limit_gives_the_task_back_until_the_reset(codex, model, tmp_path):
    project = make_project(tmp_path)
    resets_in = 2 * 3600
    limit = Reply(429, {"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                                  "plan_type": "plus", "resets_in_seconds": resets_in,
                                  "resets_at": int(time.time()) + resets_in}})
    script = reporting_script()
    script.errors.append(limit)
    before = datetime.now(timezone.utc)
    # The task is due again in two hours, so the run never goes idle: it stops at --max-seconds.
    run(project, model, script, max_seconds=30)

    [failed] = stream_events(project, "turn.failed")
    assert "usage limit" in failed["error"]["message"] and "try again at" in failed["error"]["message"]
    [task] = project.tasks()
    assert task.status == "pending"                        # given back, not failed
    assert task.retry_count == 0
    assert task.error_class == "rate_limited"
    assert "usage limit" in task.error
    # Codex prints the reset to the minute, in local time; phaseloom waits until then.
    due = task.next_attempt_at if task.next_attempt_at.tzinfo else task.next_attempt_at.replace(tzinfo=timezone.utc)
    assert abs((due - before).total_seconds() - resets_in) <= 120


def test_codex_bad_flag_is_permanent(codex, model, tmp_path):
    project = make_project(tmp_path)
    argv = list(PRESET.argv)
    argv.insert(argv.index("--"), "--no-such-flag")
    argv.remove("{config_args}")
    proc = run(project, model, reporting_script(), "--agent-command", shlex.join(argv), runtime="command",
               max_seconds=60)

    [task] = project.tasks()
    assert task.status == "failed", (task.status, proc.stdout, proc.stderr)
    assert task.error_class in ("usage", "permanent")      # the runtime's class, as the queue stores it
    assert "refused its command line" in task.error
    assert "--no-such-flag" in task.error
    assert task.retry_count == 0                           # never retried: a person must fix the command
    assert model.model_requests() == []
