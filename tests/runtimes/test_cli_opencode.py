"""OpenCode, the real CLI, driven by plain ``phaseloom run --runtime command:opencode``.

The model behind it is the loopback fake speaking OpenAI Chat Completions (SSE), configured as a
custom OpenAI-compatible provider in the user's own OpenCode configuration (``~/.config/opencode``,
the harness's HOME); OpenCode bundles ``@ai-sdk/openai-compatible``, so nothing is installed at run
time. Everything else is real: the ``opencode`` binary, phaseloom's MCP server it launches over
stdio, git, the database. The parser tests read output captured from the real CLI (the samples).
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from phaseloom.runtimes.presets.base import TOKEN_VAR, McpLaunch
from phaseloom.runtimes.presets.opencode import PRESET
from phaseloom.runtimes.presets.opencode_stream import OpenCodeStreamParser
from tests.runtimes.agent_e2e import assert_completed_with_its_summary, assert_not_completed_without_a_report, make_project, model_turns, require_cli
from tests.runtimes.fake_models import FakeModelServer, Script, Step
from tests.runtimes.fake_models.chat import rate_limited

SUMMARY = "Wrote hello.txt saying hello"
SAMPLES = Path(__file__).parent
# OpenCode's price for the fake model, per million tokens: it reports each step's cost in USD.
PRICE = {"input": 3, "output": 15}


@pytest.fixture(scope="module")
def opencode() -> str:
    return require_cli("opencode")



def configure_provider(project, server: FakeModelServer) -> None:
    """The user's OpenCode configuration: the fake as a custom OpenAI-compatible provider, and its model."""
    folder = project.folder / "home" / ".config" / "opencode"
    folder.mkdir(parents=True, exist_ok=True)
    provider = {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                "options": {"baseURL": f"{server.url}/v1", "apiKey": "fake-key"},
                "models": {"fake-model": {"name": "Fake model", "cost": PRICE}}}
    (folder / "opencode.json").write_text(json.dumps({"provider": {"fake": provider}, "model": "fake/fake-model"}))


def reporting_script() -> Script:
    # OpenCode's write tool resolves a relative path against its project folder (the worktree).
    return Script(steps=[Step(tool="phaseloom_get_my_task"),
                         Step(tool="write", args={"filePath": "hello.txt", "content": "hello\n"}),
                         Step(tool="phaseloom_complete_task", args={"result": SUMMARY}),
                         Step(text="hello.txt is written.")])


def run(project, model, script: Script, *extra: str, runtime: str = "command:opencode", max_seconds: float = 150):
    model.script = script
    model.requests.clear()
    configure_provider(project, model)
    # models.dev is unreachable here: do not wait for it (the custom provider needs no catalogue).
    env = {"OPENCODE_DISABLE_MODELS_FETCH": "1"}
    return project.phaseloom("run", "--runtime", runtime, "--workers", "1", "--validators", "0", "--quiet",
                             "--until-idle", "--max-seconds", str(max_seconds), *extra, env=env,
                             timeout=max_seconds + 60, check=False)


def log_events(project, kind: str) -> list[dict]:
    log = (project.folder / ".phaseloom" / "logs" / "task-1.log").read_text()
    events = [json.loads(line) for line in log.splitlines() if line.startswith('{"type":')]
    return [event for event in events if event["type"] == kind]


# -- the real CLI through `phaseloom run` --------------------------------------------------
@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_opencode_completes_through_its_own_report(opencode, model, tmp_path, db_url):
    project = make_project(tmp_path, url=db_url)
    proc = run(project, model, reporting_script())
    task = assert_completed_with_its_summary(project, proc, SUMMARY)

    tools = [(e["part"]["tool"], e["part"]["state"]["status"]) for e in log_events(project, "tool_use")]
    assert tools == [("phaseloom_get_my_task", "completed"), ("write", "completed"),
                     ("phaseloom_complete_task", "completed")]
    turns = model_turns(model)
    assert task.session_id.startswith("ses_")
    assert {r.headers["x-session-id"] for r in turns} == {task.session_id}

    costs = project.costs()
    assert sum(c.input_tokens for c in costs) == len(turns) * model.script.input_tokens
    assert sum(c.output_tokens for c in costs) == len(turns) * model.script.output_tokens
    reported = sum(e["part"]["cost"] for e in log_events(project, "step_finish"))
    assert reported > 0 and sum(float(c.amount) for c in costs) == pytest.approx(reported)  # OpenCode's own USD


@contextmanager
def serving(project):
    """``phaseloom serve`` on a free loopback port, for agents that reach MCP over HTTP: its /mcp URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(project.folder / "serve.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "phaseloom.cli.app", "serve", "--host", "127.0.0.1",
                                   "--port", str(port)], cwd=project.folder, env=project.env(), stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            _wait_for_port(server, port, project.folder / "serve.log")
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_for_port(server: subprocess.Popen, port: int, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


def test_opencode_reaches_a_remote_mcp_endpoint_with_its_token(opencode, model, tmp_path):
    project = make_project(tmp_path)
    with serving(project) as mcp_url:
        proc = run(project, model, reporting_script(), "--mcp-url", mcp_url)

    [task] = project.tasks()
    assert task.status == "completed", (task.error, proc.stdout, proc.stderr)
    assert task.result["summary"] == SUMMARY
    assert project.ticket_file("hello.txt") == "hello\n"
    config = json.loads((project.folder / ".phaseloom" / "logs" / "task-1" / "opencode.json").read_text())
    assert config["mcp"]["phaseloom"]["url"] == mcp_url      # the endpoint, not a launched stdio server


def test_opencode_that_never_reports_is_not_completed(opencode, model, tmp_path):
    project = make_project(tmp_path)
    silent = Script(steps=[Step(tool="write", args={"filePath": "hello.txt", "content": "hello\n"}),
                           Step(text="I wrote hello.txt.")])
    run(project, model, silent)

    assert_not_completed_without_a_report(project, last_words="I wrote hello.txt.")


def test_opencode_rate_limit_gives_the_task_back_without_spending_a_retry(opencode, model, tmp_path):
    project = make_project(tmp_path)
    script = reporting_script()
    # More 429s than OpenCode retries on its own: the first run gives up, phaseloom gives the task
    # back until the provider's retry-after, and the next run gets through.
    script.errors.extend(rate_limited(retry_after=1) for _ in range(9))
    proc = run(project, model, script)

    assert script.errors == []
    [task] = project.tasks()
    assert task.status == "completed", (task.error, proc.stdout)
    assert task.result["summary"] == SUMMARY
    assert task.retry_count == 0
    [gave_up] = log_events(project, "error")               # the first run's end, as OpenCode said it
    assert gave_up["error"]["data"]["statusCode"] == 429


def test_opencode_bad_flag_is_permanent(opencode, model, tmp_path):
    project = make_project(tmp_path)
    argv = list(PRESET.argv)
    argv.insert(argv.index("run") + 1, "--no-such-flag")
    proc = run(project, model, reporting_script(), "--agent-command", shlex.join(argv), runtime="command",
               max_seconds=60)

    [task] = project.tasks()
    assert task.status == "failed", (task.status, proc.stdout, proc.stderr)
    assert (task.error_class, task.retry_count) == ("permanent", 0)
    assert task.error.startswith("usage:")
    assert task.retry_count == 0                           # never retried: a person must fix the command
    assert model.model_requests() == []


# -- the parser, on output captured from the real CLI ---------------------------------------
def parse(sample: str) -> OpenCodeStreamParser:
    parser = OpenCodeStreamParser()
    for line in (SAMPLES / sample).read_text().splitlines():
        parser.feed(line)
    return parser


def test_parser_reads_a_completed_run():
    state = parse("opencode_sample_completed.jsonl").state
    assert state.session_id == "ses_dcbebb273ffeGwCxd20B4jTRF5"
    assert state.final_message == "All done: hello.txt written."
    assert state.tool_calls == 3
    assert state.activity == "tool: phaseloom_complete_task"
    assert [(u.input_tokens, u.output_tokens) for u in state.usage] == [(120, 30)] * 4
    assert state.cost_usd == pytest.approx(4 * 0.00081)
    assert not (state.errors or state.rate_limited or state.auth_failed)


def test_parser_reads_a_rate_limit_and_its_retry_after():
    state = parse("opencode_sample_rate_limited.jsonl").state
    assert state.rate_limited and not state.auth_failed
    assert state.retry_after_seconds == 2.0
    assert state.session_id and "HTTP 429" in state.errors[0]


def test_parser_reads_a_refused_key():
    state = parse("opencode_sample_auth_failed.jsonl").state
    assert state.auth_failed and not state.rate_limited
    assert "Incorrect API key" in state.errors[0]


def test_parser_shows_a_tool_call_with_what_it_touched():
    parser = OpenCodeStreamParser()
    parser.feed(json.dumps({"type": "tool_use", "sessionID": "ses_1", "part": {
        "type": "tool", "tool": "bash", "state": {"status": "error", "input": {"command": "make test"}, "title": ""}}}))
    assert parser.state.activity == "tool: bash make test (failed)"
    parser.feed("a plain line OpenCode printed")                       # not JSON: ignored
    assert parser.state.final_message == "" and parser.state.tool_calls == 1


# -- the configuration the preset writes ----------------------------------------------------
def test_config_launches_phaseloom_mcp_with_the_token_by_name(tmp_path):
    launch = McpLaunch(command=("/usr/bin/python3", "-m", "phaseloom.cli.app", "mcp"),
                       env={"PHASELOOM_DATABASE_URL": "sqlite:////abs/db"}, token="secret-token")
    rendered = PRESET.config(launch, tmp_path)
    document = json.loads(rendered.files["opencode.json"])
    server = document["mcp"]["phaseloom"]
    assert server["type"] == "local" and server["command"] == list(launch.command)
    assert server["environment"] == {"PHASELOOM_DATABASE_URL": "sqlite:////abs/db", TOKEN_VAR: f"{{env:{TOKEN_VAR}}}"}
    assert "secret-token" not in rendered.files["opencode.json"]
    assert rendered.env == {"OPENCODE_CONFIG": str(tmp_path / "opencode.json")}
    assert document["permission"]["edit"] == "allow" and document["permission"]["phaseloom_*"] == "allow"


def test_config_points_at_a_remote_endpoint_with_the_bearer_header(tmp_path):
    rendered = PRESET.config(McpLaunch(url="http://127.0.0.1:8765/mcp", token="secret-token"), tmp_path)
    server = json.loads(rendered.files["opencode.json"])["mcp"]["phaseloom"]
    assert server == {"type": "remote", "url": "http://127.0.0.1:8765/mcp", "enabled": True,
                      "headers": {"Authorization": f"Bearer {{env:{TOKEN_VAR}}}"}}
