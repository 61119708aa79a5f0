"""Needs input, end to end with the real CLIs: the agent calls ``ask_human`` (scripted by the loopback fake
model), its task waits with no agent, a person answers through the API, and the next ``phaseloom run``
starts the CLI with its resume flag: the fake's log shows the same session going on, the whole earlier
conversation sent again and the answer as the next user message.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from phaseloom.api.app import create_app
from phaseloom.config import Settings
from phaseloom.db.models import SystemEvent
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.auth import AuthService
from tests.runtimes import test_cli_claude_code as claude_e2e
from tests.runtimes import test_cli_codex as codex_e2e
from tests.runtimes.agent_e2e import AgentProject, make_project, model_turns, require_cli
from tests.runtimes.fake_models import Script, Step

QUESTION = "Should hello.txt say hello or hi?"
ANSWER = "Say hello, in lower case."
SUMMARY = "Wrote hello.txt saying hello, as the person answered"


@pytest.fixture(scope="module")
def claude() -> str:
    return require_cli("claude")


@pytest.fixture(scope="module")
def codex() -> str:
    return require_cli("codex")


def asking_steps(ask: str, write: Step, complete: str) -> list[Step]:
    return [Step(tool="*get_my_task"), Step(tool=ask, args={"question": QUESTION, "options": ["hello", "hi"]}),
            Step(text="I asked a person and am waiting for the answer."),
            # The resumed session: its history holds the three turns above, so these come next.
            write, Step(tool=complete, args={"result": SUMMARY}), Step(text="hello.txt is written.")]


class Api:
    """The real API over the project's database, as a person's browser or script would call it."""

    def __init__(self, project: AgentProject) -> None:
        self.db = project.database()
        token = AuthService(UnitOfWork(self.db)).create_admin_token(label="person")
        self.client = TestClient(create_app(self.db, Settings(database_url=project.url)),
                                 headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.client.close()
        self.db.dispose()

    def events(self, event_type: str) -> list[SystemEvent]:
        with self.db.sessions() as session:
            return list(session.scalars(select(SystemEvent).where(SystemEvent.event_type == event_type)))


def ask_then_answer(project: AgentProject, runtime: str, env: dict[str, str], model) -> tuple[list, list]:
    """Run until the task waits, answer it through the API, run again; the model turns of each run."""
    model.requests.clear()
    first = project.run(runtime, env, max_seconds=150)
    tasks = project.tasks()
    assert len(tasks) == 1, (first.returncode, first.stdout, first.stderr)
    [task] = tasks
    assert task.status == "waiting_input", (task.status, task.error, first.stdout, first.stderr)
    assert task.assigned_agent_id is None and task.lease_expires_at is None and task.retry_count == 0
    assert task.session_id
    asked_turns = model_turns(model)

    api = Api(project)
    try:
        [question] = api.client.get("/api/questions").json()
        assert (question["task_id"], question["question"], question["options"]) == (task.id, QUESTION, ["hello", "hi"])
        board = api.client.get("/api/board/demo").json()
        assert [q["question"] for q in board["needs_input"]] == [QUESTION]
        [requested] = api.events("task.input_requested")
        assert requested.payload["question"] == QUESTION
        answered = api.client.post(f"/api/tasks/{task.id}/answer", json={"answer": ANSWER})
        assert answered.status_code == 200, answered.text
        assert api.client.post(f"/api/tasks/{task.id}/answer", json={"answer": ANSWER}).status_code == 409

        model.requests.clear()
        second = project.run(runtime, env, max_seconds=150)
        [done] = project.tasks()
        assert done.status == "completed", (done.status, done.error, second.stdout, second.stderr)
        assert done.result["summary"] == SUMMARY and done.retry_count == 0
        assert project.ticket_file("hello.txt") == "hello\n"
        [resumed] = api.events("task.resumed")
        assert resumed.payload["session_id"] == task.session_id  # the run was started with the resume flag
    finally:
        api.close()
    return asked_turns, model_turns(model)


def test_claude_code_asks_waits_and_resumes_its_session_with_the_answer(claude, model, tmp_path):
    project = make_project(tmp_path)
    model.script = Script(steps=asking_steps("mcp__phaseloom__ask_human", Step(tool="Write", args=claude_e2e.hello_file),
                                             "mcp__phaseloom__complete_task"))
    asked, resumed = ask_then_answer(project, "command:claude-code", claude_e2e.provider_env(model), model)

    session = asked[0].headers["X-Claude-Code-Session-Id"]
    assert {t.headers["X-Claude-Code-Session-Id"] for t in resumed} == {session}  # the same session goes on
    messages = resumed[0].body["messages"]
    said = json.dumps(messages[:-1])
    assert "mcp__phaseloom__ask_human" in said and QUESTION in said  # the earlier conversation, resumed
    assert messages[-1]["role"] == "user"
    assert ANSWER in json.dumps(messages[-1]["content"])               # ... and the answer is the next message


def test_codex_asks_waits_and_resumes_its_session_with_the_answer(codex, model, tmp_path):
    project = make_project(tmp_path)
    model.script = Script(steps=asking_steps("*ask_human", Step(tool="apply_patch", args={"input": codex_e2e.HELLO_PATCH}),
                                             "*complete_task"))
    asked, resumed = ask_then_answer(project, "command:codex", codex_e2e.provider_env(project, model), model)

    [task] = project.tasks()
    assert {t.headers["session-id"] for t in resumed} == {asked[0].headers["session-id"]} == {task.session_id}
    items = resumed[0].body["input"]
    earlier = json.dumps(items[:-1])
    assert "ask_human" in earlier and QUESTION in earlier
    last = items[-1]
    assert last.get("role") == "user" and ANSWER in json.dumps(last.get("content"))


@pytest.fixture(scope="module")
def opencode() -> str:
    return require_cli("opencode")


def test_opencode_asks_waits_and_resumes_its_session_with_the_answer(opencode, model, tmp_path):
    from tests.runtimes import test_cli_opencode as opencode_e2e

    project = make_project(tmp_path)
    opencode_e2e.configure_provider(project, model)
    # OpenCode waits 5 s for an MCP server's tools by default, less than a cold `phaseloom mcp` takes on a
    # loaded machine (seen: 24 s to import at load 12); the user's configuration may raise it, as here. An
    # entry must be whole to validate; the preset's (merged over it) replaces all but the timeout.
    user_config = project.folder / "home" / ".config" / "opencode" / "opencode.json"
    settings = json.loads(user_config.read_text())
    settings["mcp"] = {"phaseloom": {"type": "local", "command": ["true"], "enabled": True, "timeout": 120_000}}
    user_config.write_text(json.dumps(settings))
    write = Step(tool="write", args={"filePath": "hello.txt", "content": "hello\n"})
    model.script = Script(steps=asking_steps("phaseloom_ask_human", write, "phaseloom_complete_task"))
    asked, resumed = ask_then_answer(project, "command:opencode", {"OPENCODE_DISABLE_MODELS_FETCH": "1"}, model)

    [task] = project.tasks()
    assert {r.headers["x-session-id"] for r in [*asked, *resumed]} == {task.session_id}
    messages = resumed[0].body["messages"]
    earlier = json.dumps(messages[:-1])
    assert "phaseloom_ask_human" in earlier and QUESTION in earlier
    assert messages[-1]["role"] == "user" and ANSWER in json.dumps(messages[-1]["content"])
