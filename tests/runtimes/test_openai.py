"""The openai runtime against a loopback server speaking the chat-completions protocol.

The server is the one fake here: it plays a model by returning a fixed sequence of replies,
and records what the runtime sent.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from phaseloom.runtimes.base import settle
from phaseloom.runtimes.openai import OpenAIRuntime
from phaseloom.services.gates import GateService
from phaseloom.services.queue import QueueService
from tests.runtimes.conftest import make_assignment


@pytest.fixture
def db_url(tmp_path, sqlite_template):
    """SQLite only: git, subprocesses and HTTP behave the same whatever the database."""
    import shutil

    path = tmp_path / "phaseloom.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def tool_call(call_id: str, name: str, **arguments) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def reply(*calls, content=None, prompt=100, completion=20) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "tiny",
            "choices": [{"index": 0, "finish_reason": "tool_calls" if calls else "stop",
                         "message": {"role": "assistant", "content": content, "tool_calls": list(calls) or None}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}


@pytest.fixture
def model_server():
    """Start a loopback 'model'; set ``server.replies`` before use, read ``server.requests`` after."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            status, payload = (200, server.replies.pop(0)) if server.replies else (500, {"error": "no more"})
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.replies, server.requests = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def runtime_for(db, server, **kw):
    return OpenAIRuntime(db, base_url=f"http://127.0.0.1:{server.server_port}/v1", model="tiny", api_key="sk-test",
                         **kw)


def test_tool_loop_writes_ticks_completes_and_counts_tokens(uow, db, claimed, model_server, tmp_path):
    task, agent = claimed
    workdir = tmp_path / "wt"
    workdir.mkdir()
    model_server.replies = [
        reply(tool_call("c1", "write_file", path="src/greet.py", content="def greet():\n    return 'hi'\n"),
              tool_call("c2", "list_files")),
        reply(tool_call("c3", "tick_done_definition", definition="1", evidence="src/greet.py written"),
              tool_call("c4", "read_file", path="../../etc/passwd")),
        reply(tool_call("c5", "complete_task", result="greet() written", artifacts=["src/greet.py"])),
    ]
    assignment = make_assignment(task, agent, workdir)
    outcome = settle(uow, assignment, runtime_for(db, model_server).run(assignment))

    assert outcome.completed and outcome.reported_by_agent and outcome.final_status == "completed"
    assert outcome.usage == {"prompt_tokens": 300, "completion_tokens": 60, "total_tokens": 360}
    assert (workdir / "src" / "greet.py").read_text().startswith("def greet")
    assert QueueService(uow).get(task.id).result == {"summary": "greet() written", "artifacts": ["src/greet.py"]}
    assert GateService(uow).done_definitions(task.ticket_id, task.phase_id)[0].ticked

    first, second = model_server.requests[0], model_server.requests[1]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
    assert first["body"]["messages"][0] == {"role": "system", "content": assignment.instructions}
    assert {t["function"]["name"] for t in first["body"]["tools"]} >= {"write_file", "complete_task"}
    tool_results = {m["tool_call_id"]: m["content"] for m in second["body"]["messages"] if m["role"] == "tool"}
    assert tool_results["c2"] == "src/greet.py"
    escaped = [m for m in model_server.requests[2]["body"]["messages"] if m.get("tool_call_id") == "c4"]
    assert escaped[0]["content"].startswith("error:") and "without '..'" in escaped[0]["content"]


def test_model_giving_up_fails_the_task_with_its_reason(uow, db, claimed, model_server, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    model_server.replies = [reply(content="thinking"), reply(tool_call("c1", "fail_task", reason="spec unclear"))]
    assignment = make_assignment(task, agent, tmp_path / "wt")
    outcome = settle(uow, assignment, runtime_for(db, model_server).run(assignment))
    assert not outcome.completed and outcome.final_status == "pending"
    assert "spec unclear" in QueueService(uow).get(task.id).error
    assert model_server.requests[1]["body"]["messages"][-1]["content"].startswith("Use the tools")


def test_endpoint_errors_and_turn_limit_are_classified(db, claimed, model_server, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    assignment = make_assignment(task, agent, tmp_path / "wt")
    outcome = runtime_for(db, model_server).run(assignment)  # no replies queued: the server answers 500
    assert (outcome.error_class, outcome.retryable) == ("api_error", True)
    model_server.replies = [reply(tool_call("c", "list_files")) for _ in range(2)]
    outcome = runtime_for(db, model_server, max_turns=2).run(assignment)
    assert outcome.error_class == "turn_limit" and outcome.usage["total_tokens"] == 240
