"""The openai runtime against a loopback server speaking the chat-completions protocol.

The server is the one fake here: it plays a model by returning a fixed sequence of replies
(a chat completion, or an error :class:`Reply` with its status and headers), and records what
the runtime sent, so the retries inside a run (429, 5xx, dropped connections) are seen on the wire.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from phaseloom.config import Settings
from phaseloom.runtimes.base import settle
from phaseloom.runtimes.http_retry import RetryPolicy, retry_after_seconds
from phaseloom.runtimes.openai import OpenAIRuntime
from phaseloom.services.gates import GateService
from phaseloom.queue import QueueService
from tests.runtimes.conftest import make_assignment
from tests.runtimes.fake_models import Reply


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
    """Start a loopback 'model'; set ``server.replies`` before use, read ``server.requests`` after.

    A reply is a chat completion (answered 200) or a :class:`Reply` (an error with its headers);
    once they are used up the server answers ``server.fallback``.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            answer = server.replies.pop(0) if server.replies else server.fallback
            if not isinstance(answer, Reply):
                answer = Reply(200, answer)
            data = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.replies, server.requests = [], []
    server.fallback = Reply(500, {"error": {"message": "no more replies", "type": "server_error"}})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def runtime_for(db, server, sleeps: list[float] | None = None, **kw):
    """The runtime against ``server``; its backoff waits are appended to ``sleeps`` instead of slept."""
    waits = [] if sleeps is None else sleeps
    return OpenAIRuntime(db, base_url=f"http://127.0.0.1:{server.server_port}/v1", model="tiny", api_key="sk-test",
                         sleep=waits.append, **kw)


def cost_records(uow, task_id):
    from sqlalchemy import select

    from phaseloom.db.models import CostRecord

    with uow:
        return [(r.model, r.input_tokens, r.output_tokens, r.source)
                for r in uow.session.scalars(select(CostRecord).where(CostRecord.task_id == task_id))]


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
    outcome = settle(uow, assignment, runtime_for(db, model_server).run(assignment), Settings())

    assert outcome.completed and outcome.reported_by_agent and outcome.final_status == "completed"
    assert outcome.usage == {"prompt_tokens": 300, "completion_tokens": 60, "total_tokens": 360}
    assert (workdir / "src" / "greet.py").read_text().startswith("def greet")
    assert QueueService(uow).get(task.id).result == {"summary": "greet() written", "artifacts": ["src/greet.py"]}
    assert GateService(uow).done_definitions(task.ticket_id, task.phase_id)[0].ticked
    assert cost_records(uow, task.id) == [("tiny", 100, 20, "agent_output")] * 3  # one per response, once each

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
    outcome = settle(uow, assignment, runtime_for(db, model_server).run(assignment), Settings())
    assert not outcome.completed and outcome.final_status == "pending"
    assert "spec unclear" in QueueService(uow).get(task.id).error
    assert model_server.requests[1]["body"]["messages"][-1]["content"].startswith("Use the tools")


def test_endpoint_errors_and_turn_limit_are_classified(db, claimed, model_server, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    assignment = make_assignment(task, agent, tmp_path / "wt")
    sleeps: list[float] = []
    outcome = runtime_for(db, model_server, sleeps).run(assignment)  # no replies queued: the server answers 500
    assert (outcome.error_class, outcome.retryable) == ("api_error", True)
    assert len(model_server.requests) == 5 and len(sleeps) == 4  # the default policy tried five times
    model_server.replies = [reply(tool_call("c", "list_files")) for _ in range(2)]
    outcome = runtime_for(db, model_server, max_turns=2).run(assignment)
    assert outcome.error_class == "turn_limit" and outcome.usage["total_tokens"] == 240


# -- retries inside the run ------------------------------------------------------

RATE_LIMITED = {"error": {"message": "Rate limit reached for tiny: 3 requests per min", "type": "requests",
                          "code": "rate_limit_exceeded"}}


def completing(result="done") -> dict:
    return reply(tool_call("c1", "complete_task", result=result, artifacts=[]))


def test_rate_limit_is_waited_out_inside_the_run_without_spending_a_task_retry(uow, db, claimed, model_server,
                                                                            tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    ticks: list[str] = []
    model_server.replies = [Reply(429, RATE_LIMITED, {"Retry-After": "1"}), completing("greet() written")]
    assignment = make_assignment(task, agent, tmp_path / "wt", on_tick=lambda: ticks.append("tick"))
    sleeps: list[float] = []
    outcome = settle(uow, assignment, runtime_for(db, model_server, sleeps).run(assignment), Settings())

    assert outcome.completed and outcome.final_status == "completed" and outcome.summary == "greet() written"
    assert sleeps == [1.0] and ticks == ["tick"]  # the server's wait, with the lease renewed before it
    assert len(model_server.requests) == 2
    assert model_server.requests[0]["body"] == model_server.requests[1]["body"]  # the same request sent again
    assert QueueService(uow).get(task.id).retry_count == 0
    assert cost_records(uow, task.id) == [("tiny", 100, 20, "agent_output")]  # the refused try cost nothing


def test_server_errors_are_retried_with_growing_backoff(db, claimed, model_server, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    error = {"error": {"message": "The server had an error", "type": "server_error"}}
    model_server.replies = [Reply(500, error), Reply(503, error), completing()]
    sleeps: list[float] = []
    runtime = runtime_for(db, model_server, sleeps, retry=RetryPolicy(max_attempts=5, base_seconds=2,
                                                                      cap_seconds=60))
    outcome = runtime.run(make_assignment(task, agent, tmp_path / "wt"))

    assert outcome.completed and len(model_server.requests) == 3
    assert len(sleeps) == 2 and 1 <= sleeps[0] <= 2 and 2 <= sleeps[1] <= 4  # jittered 2 s, then 4 s
    assert outcome.usage_reports and outcome.usage["total_tokens"] == 120


def test_rate_limit_that_outlasts_the_retries_gives_the_task_back_with_the_wait(uow, db, claimed, model_server,
                                                                             tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    model_server.replies = [reply(tool_call("c0", "list_files"))]  # one good turn: its tokens still count
    model_server.fallback = Reply(429, RATE_LIMITED, {"retry-after-ms": "1500", "Retry-After": "2"})
    sleeps: list[float] = []
    runtime = runtime_for(db, model_server, sleeps, retry=RetryPolicy(max_attempts=3, base_seconds=1,
                                                                      cap_seconds=60))
    assignment = make_assignment(task, agent, tmp_path / "wt")
    outcome = runtime.run(assignment)

    assert (outcome.completed, outcome.error_class, outcome.retryable) == (False, "rate_limit", True)
    assert outcome.rate_limited and outcome.retry_after_seconds == 1.5
    assert outcome.error.startswith("rate limited by the provider (HTTP 429); retry after 1.5s")
    assert "Rate limit reached for tiny" in outcome.error
    assert sleeps == [1.5, 1.5] and len(model_server.requests) == 1 + 3  # retry-after-ms wins over Retry-After
    assert [(r.model, r.input_tokens) for r in outcome.usage_reports] == [("tiny", 100)]

    before = datetime.now(UTC)
    settle(uow, assignment, outcome, Settings())
    back = QueueService(uow).get(task.id)
    assert (back.status, back.retry_count) == ("pending", 0)  # given back, no retry spent
    due = back.next_attempt_at if back.next_attempt_at.tzinfo else back.next_attempt_at.replace(tzinfo=UTC)
    assert timedelta(seconds=1) <= due - before <= timedelta(seconds=3)
    assert cost_records(uow, task.id) == [("tiny", 100, 20, "agent_output")]


def test_a_wait_longer_than_the_cap_is_left_to_the_queue(db, claimed, model_server, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    model_server.fallback = Reply(429, RATE_LIMITED, {"Retry-After": "120"})
    sleeps: list[float] = []
    outcome = runtime_for(db, model_server, sleeps, retry=RetryPolicy(cap_seconds=60)).run(
        make_assignment(task, agent, tmp_path / "wt"))

    assert outcome.error_class == "rate_limit" and "retry after 120s" in outcome.error
    assert sleeps == [] and len(model_server.requests) == 1


def test_refused_key_is_permanent_and_says_what_to_fix(uow, db, claimed, model_server, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    model_server.replies = [Reply(401, {"error": {"message": "Incorrect API key provided: sk-test.",
                                                  "type": "invalid_request_error", "code": "invalid_api_key"}})]
    sleeps: list[float] = []
    assignment = make_assignment(task, agent, tmp_path / "wt")
    outcome = settle(uow, assignment, runtime_for(db, model_server, sleeps).run(assignment), Settings())

    assert (outcome.error_class, outcome.retryable, outcome.final_status) == ("auth", False, "failed")
    assert "Incorrect API key provided" in outcome.error and "PHASELOOM_OPENAI_API_KEY" in outcome.error
    assert sleeps == [] and len(model_server.requests) == 1
    stored = QueueService(uow).get(task.id)
    assert stored.retry_count == 0 and stored.error.startswith("auth: the provider refused the API key (HTTP 401)")


@pytest.mark.parametrize(("status", "body", "error_class", "expected"), [
    (400, {"error": {"message": "Invalid schema for function 'write_file'", "type": "invalid_request_error"}},
     "api_error", "the provider rejected the request (HTTP 400): Invalid schema for function 'write_file'"),
    (404, {"error": {"message": "The model `tiny` does not exist", "code": "model_not_found"}},
     "api_error", "check PHASELOOM_OPENAI_BASE_URL and PHASELOOM_OPENAI_MODEL"),
    (429, {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}},
     "quota", "the provider's quota is used up (HTTP 429 insufficient_quota): You exceeded your current quota"),
])
def test_requests_the_provider_will_never_accept_are_not_retried(db, claimed, model_server, tmp_path, status, body,
                                                                 error_class, expected):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    model_server.replies = [Reply(status, body)]
    sleeps: list[float] = []
    outcome = runtime_for(db, model_server, sleeps).run(make_assignment(task, agent, tmp_path / "wt"))

    assert (outcome.error_class, outcome.retryable) == (error_class, False) and expected in outcome.error
    assert sleeps == [] and len(model_server.requests) == 1


def test_provider_can_forbid_a_retry_with_x_should_retry(db, claimed, model_server, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    model_server.replies = [Reply(503, {"error": {"message": "this deployment is retired"}},
                                  {"x-should-retry": "false"})]
    sleeps: list[float] = []
    outcome = runtime_for(db, model_server, sleeps).run(make_assignment(task, agent, tmp_path / "wt"))
    assert (outcome.error_class, outcome.retryable) == ("api_error", False)
    assert "(HTTP 503): this deployment is retired" in outcome.error and sleeps == []


def test_unreachable_endpoint_is_retried_then_given_back(db, claimed, tmp_path):
    task, agent = claimed
    (tmp_path / "wt").mkdir()
    with socket.socket() as probe:  # a port nobody listens on: every connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    runtime = OpenAIRuntime(db, base_url=f"http://127.0.0.1:{port}/v1", model="tiny", sleep=sleeps.append,
                            retry=RetryPolicy(max_attempts=3, base_seconds=0.5, cap_seconds=10))
    outcome = runtime.run(make_assignment(task, agent, tmp_path / "wt"))

    assert (outcome.error_class, outcome.retryable) == ("api_unreachable", True)
    assert "after 3 attempts" in outcome.error and len(sleeps) == 2


def test_retry_after_header_forms():
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(httpx.Headers({"Retry-After": "30"}), now) == 30
    assert retry_after_seconds(httpx.Headers({"Retry-After": "0.5"}), now) == 0.5
    in_90s = format_datetime(now + timedelta(seconds=90), usegmt=True)  # "Sat, 01 Mar 2025 12:01:30 GMT"
    assert retry_after_seconds(httpx.Headers({"Retry-After": in_90s}), now) == 90
    past = format_datetime(now - timedelta(seconds=5), usegmt=True)
    assert retry_after_seconds(httpx.Headers({"Retry-After": past}), now) == 0
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "250", "Retry-After": "9"}), now) == 0.25
    for garbage in ("soon", "-3", "nan", ""):
        assert retry_after_seconds(httpx.Headers({"Retry-After": garbage}), now) is None
    assert retry_after_seconds(httpx.Headers({}), now) is None


# -- against the shared fake provider (the Chat Completions protocol OpenCode and Aider are tested with) --


def test_shared_fake_provider_rate_limit_then_a_scripted_run(uow, db, claimed, tmp_path):
    from tests.runtimes.fake_models import FakeModelServer, Script, Step
    from tests.runtimes.fake_models.chat import rate_limited

    task, agent = claimed
    (tmp_path / "wt").mkdir()
    script = Script(errors=[rate_limited(2)], steps=[
        Step("write_file", {"path": "hello.txt", "content": "hello\n"}),
        Step("complete_task", {"result": "hello.txt written", "artifacts": ["hello.txt"]})])
    sleeps: list[float] = []
    assignment = make_assignment(task, agent, tmp_path / "wt")
    with FakeModelServer(script) as server:
        runtime = OpenAIRuntime(db, base_url=f"{server.url}/v1", model="fake-model", sleep=sleeps.append)
        outcome = settle(uow, assignment, runtime.run(assignment), Settings())
        sent = server.model_requests()

    assert outcome.final_status == "completed" and outcome.summary == "hello.txt written"
    assert (tmp_path / "wt" / "hello.txt").read_text() == "hello\n"
    assert sleeps == [2.0] and len(sent) == 3 and QueueService(uow).get(task.id).retry_count == 0
    assert cost_records(uow, task.id) == [("fake-model", script.input_tokens, script.output_tokens,
                                           "agent_output")] * 2


def test_shared_fake_provider_refusing_the_key(uow, db, claimed, tmp_path):
    from tests.runtimes.fake_models import FakeModelServer, Script
    from tests.runtimes.fake_models.chat import unauthorized

    task, agent = claimed
    (tmp_path / "wt").mkdir()
    assignment = make_assignment(task, agent, tmp_path / "wt")
    with FakeModelServer(Script(errors=[unauthorized()])) as server:
        runtime = OpenAIRuntime(db, base_url=f"{server.url}/v1", model="fake-model", api_key="sk-wrong",
                                sleep=lambda _: pytest.fail("a refused key must not be retried"))
        outcome = settle(uow, assignment, runtime.run(assignment), Settings())
        assert len(server.model_requests()) == 1

    assert (outcome.error_class, outcome.final_status) == ("auth", "failed")
    assert "Incorrect API key provided" in outcome.error and "PHASELOOM_OPENAI_API_KEY" in outcome.error
