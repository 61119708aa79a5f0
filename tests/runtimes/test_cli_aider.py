"""Aider, the real CLI, driven by plain ``phaseloom run --runtime command:aider``.

Aider has no MCP client and no tools: the fake model (OpenAI Chat Completions, which Aider reaches
through litellm with ``AIDER_MODEL=openai/fake-model`` and ``OPENAI_API_BASE``) answers with the
whole reply, an edit in Aider's "whole" format (a file name line, then the file in a fenced block).
Aider completes a task by exiting 0 with a changed worktree; the summary is its reply's words. A
model metadata file gives the fake model a price, so Aider prints its own cost. The parser tests
read output captured from the real CLI (the samples).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from phaseloom.runtimes.presets.aider import PRESET
from phaseloom.runtimes.presets.aider_output import AiderOutputParser, reply_prose
from tests.runtimes.agent_e2e import assert_completed_with_its_summary, git, make_project, require_cli
from tests.runtimes.fake_models import FakeModelServer, Script, Step
from tests.runtimes.fake_models.chat import rate_limited, unauthorized

SUMMARY = "I created hello.txt with a greeting."
HELLO_REPLY = f"{SUMMARY}\n\nhello.txt\n```\nhello\n```\n"
SAMPLES = Path(__file__).parent
MODEL = "openai/fake-model"
PRICE_PER_TOKEN = {"input_cost_per_token": 3e-6, "output_cost_per_token": 1.5e-5}


@pytest.fixture(scope="module")
def aider() -> str:
    return require_cli("aider")



def provider_env(project, server: FakeModelServer) -> dict[str, str]:
    metadata = project.folder / "model-metadata.json"
    metadata.write_text(json.dumps({MODEL: {"max_input_tokens": 128000, "max_output_tokens": 4096,
                                            "litellm_provider": "openai", "mode": "chat", **PRICE_PER_TOKEN}}))
    return {"AIDER_MODEL": MODEL, "OPENAI_API_BASE": f"{server.url}/v1", "OPENAI_API_KEY": "fake-key",
            "AIDER_MODEL_METADATA_FILE": str(metadata), "AIDER_EDIT_FORMAT": "whole"}


def run(project, model, script: Script, *extra: str, runtime: str = "command:aider", max_seconds: float = 120):
    model.script = script
    model.requests.clear()
    return project.phaseloom("run", "--runtime", runtime, "--workers", "1", "--validators", "0", "--quiet",
                             "--until-idle", "--max-seconds", str(max_seconds), *extra,
                             env=provider_env(project, model), timeout=max_seconds + 60, check=False)


# -- the real CLI through `phaseloom run` --------------------------------------------------
@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_aider_completes_when_its_edit_changed_the_worktree(aider, model, tmp_path, db_url):
    project = make_project(tmp_path, url=db_url)
    proc = run(project, model, Script(steps=[Step(text=HELLO_REPLY)]))
    assert_completed_with_its_summary(project, proc, SUMMARY)
    # Nothing of Aider's own (histories, tags cache, a .gitignore line) was committed with it.
    assert git(project.repo, "ls-tree", "-r", "--name-only", "ticket/1").split() == ["README.md", "hello.txt"]

    [turn] = model.model_requests()
    assert turn.body["model"] == "fake-model" and "tools" not in turn.body
    [cost] = project.costs()
    assert (cost.model, cost.input_tokens, cost.output_tokens) == (MODEL, 120, 30)
    expected = 120 * PRICE_PER_TOKEN["input_cost_per_token"] + 30 * PRICE_PER_TOKEN["output_cost_per_token"]
    assert float(cost.amount) == pytest.approx(expected)   # Aider's own "Cost: $0.00081 message"


def test_aider_reply_that_changes_nothing_is_not_completed(aider, model, tmp_path):
    project = make_project(tmp_path)
    run(project, model, Script(steps=[Step(text="There is nothing to change.")]))

    [task] = project.tasks()
    assert task.status != "completed"
    assert "changed nothing in its worktree" in task.error
    assert task.retry_count == task.max_retries            # retried per the phase, then given up


def test_aider_refused_key_is_permanent_although_aider_exits_0(aider, model, tmp_path):
    project = make_project(tmp_path)
    run(project, model, Script(steps=[Step(text=HELLO_REPLY)], errors=[unauthorized()]))

    [task] = project.tasks()
    assert task.status == "failed"
    assert task.error.startswith("auth:") and "could not authenticate" in task.error
    assert task.retry_count == 0                           # never retried: a person must fix the key


def test_aider_retries_a_429_itself_without_spending_a_retry(aider, model, tmp_path):
    project = make_project(tmp_path)
    script = Script(steps=[Step(text=HELLO_REPLY)], errors=[rate_limited(retry_after=1)])
    proc = run(project, model, script)

    assert script.errors == []                             # the 429 was served
    assert len(model.model_requests()) == 2                # refused, then asked again (by litellm's client)
    [task] = project.tasks()
    assert task.status == "completed", (task.error, proc.stdout)   # litellm retried it inside the run
    assert task.retry_count == 0 and task.result["summary"] == SUMMARY


def test_aider_bad_flag_is_permanent(aider, model, tmp_path):
    project = make_project(tmp_path)
    argv = [*PRESET.argv, "--no-such-flag"]
    run(project, model, Script(steps=[Step(text=HELLO_REPLY)]), "--agent-command", shlex.join(argv),
        runtime="command", max_seconds=60)

    [task] = project.tasks()
    assert task.status == "failed"
    assert "--no-such-flag" in task.error                  # argparse: "unrecognized arguments: --no-such-flag"
    assert task.retry_count == 0
    assert model.model_requests() == []


# -- the parser, on output captured from the real CLI ---------------------------------------
def parse(sample: str) -> AiderOutputParser:
    parser = AiderOutputParser()
    for line in (SAMPLES / sample).read_text().splitlines():
        parser.feed(line)
    return parser


def test_parser_reads_a_completed_run():
    state = parse("aider_sample_completed.txt").state
    assert state.model == MODEL
    assert state.final_message == SUMMARY
    assert [(u.model, u.input_tokens, u.output_tokens, u.cost_usd) for u in state.usage] == [
        (MODEL, 120, 30, 0.00081)]
    assert state.cost_usd == 0.00081
    assert state.activity == "edit: hello.txt" and state.tool_calls == 1
    assert not (state.errors or state.rate_limited or state.auth_failed)


def test_parser_reads_a_rate_limit_wrapped_over_lines():
    state = parse("aider_sample_rate_limited.txt").state
    assert state.rate_limited and not state.auth_failed
    assert state.retry_after_seconds == 1.0            # "Please try again in 1s." in the provider's message
    assert state.errors[-1].endswith("Rate limit reached for requests. Please try again in 1s.")
    assert state.usage == [] and state.final_message == ""


def test_parser_reads_a_refused_key():
    state = parse("aider_sample_auth_failed.txt").state
    assert state.auth_failed and not state.rate_limited
    refused = "litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided."
    assert state.errors == [refused]                   # its two wrapped lines, joined


def test_a_call_that_went_through_after_a_rate_limit_clears_it():
    parser = AiderOutputParser()
    for line in ["litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached", "",
                 "Retrying in 0.2 seconds...", "Done.", "", "Tokens: 1.2k sent, 12k received."]:
        parser.feed(line)
    assert not parser.state.rate_limited
    assert [(u.input_tokens, u.output_tokens) for u in parser.state.usage] == [(1200, 12000)]
    assert parser.state.final_message == "Done."


def test_reply_prose_drops_search_replace_blocks_and_their_file_names():
    reply = ["I renamed the greeting.", "", "greet.py", "```python", "<<<<<<< SEARCH", "hi", "=======",
             "hello", ">>>>>>> REPLACE", "```", "", "Tokens: 10 sent, 5 received."]
    assert reply_prose(reply) == "I renamed the greeting."


def test_config_keeps_litellm_on_its_own_price_list(tmp_path, monkeypatch):
    monkeypatch.delenv("LITELLM_LOCAL_MODEL_COST_MAP", raising=False)
    assert PRESET.config(None, tmp_path).env == {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "False")      # the user's choice wins
    assert PRESET.config(None, tmp_path).env == {}
    assert not PRESET.reports_via_mcp
