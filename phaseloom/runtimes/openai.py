"""The ``openai`` runtime: a tool-calling loop against any OpenAI-compatible chat-completions API.

The model gets the task's instructions as its system message and a set of functions: file
tools confined to its worktree, and phaseloom's task tools (tick a done definition, report a
discovery, complete or fail the task), which call the same services as the MCP server. Token
usage reported by the endpoint is summed into the outcome, one usage report per response for
the cost records ``settle()`` writes.

A rate limit (429), a server error (5xx) or a dropped connection is retried inside the run with
backoff honouring the server's ``Retry-After`` (see ``http_retry``); what is left when the tries
are spent says what it was: ``rate_limit`` (retryable, with the wait the server asked for in a
stable form, "retry after 30s"), ``auth`` (a person must fix the key), or the provider's own
message for a request it will never accept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from phaseloom.db.engine import Database
from phaseloom.domain.costs import UsageReport
from phaseloom.domain.errors import PhaseloomError
from phaseloom.domain.identifiers import is_number
from phaseloom.runtimes.base import Assignment, RunOutcome
from phaseloom.runtimes.http_retry import (
    Attempted,
    RetryPolicy,
    is_retryable,
    send_with_retry,
)
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.workspaces import confine_path

_MAX_READ = 50_000


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required}}}


_STR = {"type": "string"}
TOOLS: list[dict[str, Any]] = [
    _fn("list_files", "List files in your working directory (or a folder of it).", {"path": _STR}, []),
    _fn("read_file", "Read a text file from your working directory.", {"path": _STR}, ["path"]),
    _fn("write_file", "Create or replace a text file in your working directory.",
        {"path": _STR, "content": _STR}, ["path", "content"]),
    _fn("tick_done_definition", "Mark one done definition of the phase as met, with evidence.",
        {"definition": {"type": "string", "description": "its text or 1-based number"}, "evidence": _STR},
        ["definition", "evidence"]),
    _fn("report_discovery", "Record something found outside your task; it may spawn a task in another phase.",
        {"type": _STR, "description": _STR, "spawn_phase_id": _STR}, ["type", "description"]),
    _fn("complete_task", "Finish your task with a summary and the files you produced.",
        {"result": _STR, "artifacts": {"type": "array", "items": _STR}}, ["result"]),
    _fn("fail_task", "Give up on your task with the reason.", {"reason": _STR}, ["reason"]),
]


@dataclass
class _Session:
    assignment: Assignment
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0,
                                                          "total_tokens": 0})
    reports: list[UsageReport] = field(default_factory=list)  # one per response, priced by settle()
    finished: RunOutcome | None = None
    written: list[str] = field(default_factory=list)

    def ended(self, outcome: RunOutcome) -> RunOutcome:
        """``outcome`` with the tokens used so far: a run costs what it used however it ends."""
        outcome.usage = dict(self.usage)
        outcome.usage_reports = list(self.reports)
        return outcome


class OpenAIRuntime:
    name = "openai"

    def __init__(self, db: Database, *, base_url: str, model: str, api_key: str = "", max_turns: int = 30,
                 request_timeout: float = 120.0, transport: httpx.BaseTransport | None = None,
                 retry: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.db = db
        self.model = model
        self.max_turns = max_turns
        self.retry = retry or RetryPolicy()
        self.sleep = sleep  # injectable so tests measure the backoff instead of waiting it out
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=request_timeout,
                                   transport=transport)

    def run(self, assignment: Assignment) -> RunOutcome:
        session = _Session(assignment)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": assignment.instructions},
            {"role": "user", "content": "Carry out your task now using the tools. Call complete_task when "
                                        "it is done, or fail_task if it cannot be done."}]
        for _turn in range(self.max_turns):
            reply = self._chat(messages, session)
            if isinstance(reply, RunOutcome):
                return session.ended(reply)
            messages.append(reply)
            calls = reply.get("tool_calls") or []
            if not calls:
                messages.append({"role": "user", "content": "Use the tools; finish with complete_task."})
                continue
            for call in calls:
                messages.append({"role": "tool", "tool_call_id": call.get("id", ""),
                                 "content": self._call(call, session)})
            if session.finished:
                return session.ended(session.finished)
            if assignment.on_tick:
                assignment.on_tick()
        return session.ended(RunOutcome(False, error=f"the model did not finish within {self.max_turns} turns",
                                        error_class="turn_limit"))

    def _chat(self, messages: list[dict[str, Any]], session: _Session) -> dict[str, Any] | RunOutcome:
        """The model's next message, after retrying what a moment may fix; else how the run ends."""
        request = {"model": self.model, "messages": messages, "tools": TOOLS, "tool_choice": "auto"}
        try:
            tried = send_with_retry(lambda: self.client.post("/chat/completions", json=request), self.retry,
                                    sleep=self.sleep, before_wait=session.assignment.on_tick,
                                    should_retry=_worth_retrying)
        except httpx.HTTPError as exc:  # not a transport failure (those are retried): a bad URL, a bad body
            return RunOutcome(False, error=f"cannot use the model endpoint {self.client.base_url}: {exc}",
                              error_class="api_unreachable", retryable=False)
        if tried.response is None:
            return RunOutcome(False, error=f"cannot reach the model endpoint {self.client.base_url} after "
                                           f"{tried.attempts} attempts: {tried.error}",
                              error_class="api_unreachable", retryable=True)
        if not tried.response.is_success:
            return refusal_outcome(tried.response, tried)
        try:
            body = tried.response.json()
            message = body["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            return RunOutcome(False, error="the model endpoint answered without a chat completion: "
                                           f"{tried.response.text[:300]}", error_class="api_error", retryable=True)
        self._count_usage(body, session)
        return message

    def _count_usage(self, body: dict[str, Any], session: _Session) -> None:
        usage = body.get("usage") or {}
        for key in session.usage:
            session.usage[key] += int(usage.get(key) or 0)
        if usage:
            session.reports.append(UsageReport(self.model, int(usage.get("prompt_tokens") or 0),
                                               int(usage.get("completion_tokens") or 0)))

    def _call(self, call: dict[str, Any], session: _Session) -> str:
        name = call.get("function", {}).get("name", "")
        try:
            args = json.loads(call.get("function", {}).get("arguments") or "{}")
            handler = getattr(self, f"_tool_{name}", None)
            if handler is None:
                return f"error: there is no tool named {name!r}"
            return handler(session, **args)
        except (PhaseloomError, OSError, TypeError, ValueError) as exc:
            return f"error: {exc}"

    # -- the tools ---------------------------------------------------------------
    def _tool_list_files(self, s: _Session, path: str = ".") -> str:
        root = Path(s.assignment.workdir).resolve()
        base = root if path in ("", ".") else confine_path(root, path)
        names = sorted(p.relative_to(root).as_posix() for p in base.rglob("*")
                       if p.is_file() and ".git" not in p.relative_to(root).parts)
        return "\n".join(names) or "(no files)"

    def _tool_read_file(self, s: _Session, path: str) -> str:
        return confine_path(s.assignment.workdir, path).read_text(errors="replace")[:_MAX_READ]

    def _tool_write_file(self, s: _Session, path: str, content: str) -> str:
        target = confine_path(s.assignment.workdir, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        s.written.append(path)
        return f"wrote {len(content)} characters to {path}"

    def _tool_tick_done_definition(self, s: _Session, definition: str, evidence: str) -> str:
        from phaseloom.services.gates import GateService

        item: int | str = int(definition) - 1 if is_number(definition.strip()) else definition
        ticked = GateService(UnitOfWork(self.db)).tick_done_definition(
            s.assignment.ticket_id, item, evidence, by=f"agent:{s.assignment.agent_id}",
            phase_id=s.assignment.phase_id)
        return f"ticked: {ticked.text}"

    def _tool_report_discovery(self, s: _Session, type: str, description: str,  # noqa: A002 - the API's name
                               spawn_phase_id: str | None = None) -> str:
        from phaseloom.services.discovery import DiscoveryService

        found = DiscoveryService(UnitOfWork(self.db)).record_discovery(
            s.assignment.task_id, type, description, spawn_phase_id=spawn_phase_id or None,
            created_by=f"agent:{s.assignment.agent_id}")
        return f"discovery {found.id} recorded; spawned tasks: {found.spawned_task_ids or 'none'}"

    def _tool_complete_task(self, s: _Session, result: str, artifacts: list[str] | None = None) -> str:
        from phaseloom.services.agent_work import AgentWorkService

        files = [confine_path(s.assignment.workdir, a) and a for a in (artifacts or s.written)]
        AgentWorkService(UnitOfWork(self.db)).complete(s.assignment.agent_id, result, files, s.assignment.task_id)
        s.finished = RunOutcome(True, summary=result, artifacts=files)
        return "task completed"

    def _tool_fail_task(self, s: _Session, reason: str) -> str:
        s.finished = RunOutcome(False, error=reason, error_class="agent_failed")
        return "the task will be failed with your reason"


# -- how a refused request ends the run -----------------------------------------------


def _worth_retrying(response: httpx.Response) -> bool:
    return is_retryable(response) and _error_code(response) != "insufficient_quota"


def refusal_outcome(response: httpx.Response, tried: Attempted) -> RunOutcome:
    """The outcome of a request the provider still refused (``response``) after the retries it deserved."""
    status, detail = response.status_code, _provider_message(response)
    if status == 429 and _error_code(response) == "insufficient_quota":  # no wait fixes a used-up quota
        return RunOutcome(False, error=f"the provider's quota is used up (HTTP 429 insufficient_quota): {detail}; "
                                       "check the account's plan and billing", error_class="quota", retryable=False)
    if status == 429:
        wait = "" if tried.retry_after is None else f"; retry after {seconds_text(tried.retry_after)}s"
        return RunOutcome(False, error=f"rate limited by the provider (HTTP 429){wait} "
                                       f"({tried.attempts} attempts): {detail}",
                          error_class="rate_limit", retryable=True, rate_limited=True,
                          retry_after_seconds=tried.retry_after)
    if status in (401, 403):
        return RunOutcome(False, error=f"the provider refused the API key (HTTP {status}): {detail}; "
                                       "check PHASELOOM_OPENAI_API_KEY", error_class="auth", retryable=False)
    if _worth_retrying(response):
        return RunOutcome(False, error=f"the model endpoint kept failing (HTTP {status} after {tried.attempts} "
                                       f"attempts): {detail}", error_class="api_error", retryable=True)
    hint = "; check PHASELOOM_OPENAI_BASE_URL and PHASELOOM_OPENAI_MODEL" if status == 404 else ""
    return RunOutcome(False, error=f"the provider rejected the request (HTTP {status}): {detail}{hint}",
                      error_class="api_error", retryable=False)


def seconds_text(seconds: float) -> str:
    """``30``, ``1.5``, ``0.25``: a wait as plain decimal seconds (to the millisecond) for error texts."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {"message": error} if isinstance(error, str) else {}


def _error_code(response: httpx.Response) -> str:
    error = _error_body(response)
    return str(error.get("code") or error.get("type") or "")


def _provider_message(response: httpx.Response) -> str:
    """What the provider said was wrong: its ``error.message``, else the start of its answer."""
    message = _error_body(response).get("message")
    return str(message)[:500] if message else (response.text.strip()[:300] or response.reason_phrase)
