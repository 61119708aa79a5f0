"""Claude Code's ``--output-format stream-json`` (with ``--verbose``): one JSON event per line.

The events phaseloom reads (as Claude Code 2.1.197 writes them):

- ``{"type":"system","subtype":"init","session_id":…,"model":…,"cwd":…,"mcp_servers":[{"name","status"}]}``
- ``{"type":"system","subtype":"api_retry","attempt":n,"max_retries":m,"error_status":429,…}`` — the CLI
  retries the provider itself; only the final ``result`` says whether it gave up
- ``{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Write","input":{…}}, …]}}``
- ``{"type":"result","is_error":…,"api_error_status":…,"result":"…","total_cost_usd":…,
  "modelUsage":{"<model>":{"inputTokens","outputTokens","cacheReadInputTokens",
  "cacheCreationInputTokens","costUSD"}}}`` — once, at the end
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from phaseloom.domain.costs import UsageReport
from phaseloom.runtimes.streams import StreamState, json_object

_RATE_LIMIT = re.compile(r"\b429\b|rate.?limit|usage limit|hit your limit", re.IGNORECASE)
_AUTH = re.compile(r"\b401\b|invalid (x-)?api.?key|not logged in|authentication_error|please run /login",
                   re.IGNORECASE)
_RETRY_AFTER = re.compile(r"retry.after\D{0,5}(\d+(?:\.\d+)?)", re.IGNORECASE)
# Claude Code names a model with its context window ("claude-opus-4-8[1m]"); pricing knows the bare id.
_MODEL_SUFFIX = re.compile(r"\[[^\]]*\]$")
# What a tool call is about, by the input field each built-in tool names its target with.
_TARGET_FIELDS = ("file_path", "notebook_path", "path", "command", "pattern", "url", "description")


class ClaudeStreamParser:
    def __init__(self) -> None:
        self.state = StreamState()
        self._cwd = ""
        self._api_error = ""             # the kind the CLI put on its last synthetic error message
        self._retry_delay: float | None = None  # seconds it last waited before retrying a 429

    def feed(self, line: str) -> None:
        event = json_object(line)
        if event is None:
            return
        kind = event.get("type")
        if kind == "system":
            self._system(event)
        elif kind == "assistant":
            self._assistant(event)
        elif kind == "result":
            self._result(event)

    def _system(self, event: dict[str, Any]) -> None:
        self.state.session_id = event.get("session_id") or self.state.session_id
        if event.get("subtype") == "init":
            self._cwd = event.get("cwd") or ""
            self.state.model = _model_name(event.get("model")) or self.state.model
            for server in event.get("mcp_servers") or []:
                if server.get("status") == "failed":
                    self.state.errors.append(f"MCP server {server.get('name')!r} failed to start")
        elif event.get("subtype") == "api_retry":
            if event.get("error_status") == 429 and isinstance(event.get("retry_delay_ms"), (int, float)):
                self._retry_delay = event["retry_delay_ms"] / 1000  # it honours the provider's retry-after
            self.state.set_activity(f"API retry {event.get('attempt')}/{event.get('max_retries')}"
                                    f" ({event.get('error_status') or event.get('error')})")

    def _assistant(self, event: dict[str, Any]) -> None:
        # An API failure the CLI gave up on comes as a "<synthetic>" message with "error": "rate_limit",
        # "authentication_failed", "billing_error"…, then a result with is_error.
        self._api_error = str(event.get("error") or self._api_error)
        message = event.get("message") or {}
        for block in message.get("content") or []:
            if block.get("type") == "tool_use":
                self.state.tool_calls += 1
                self.state.set_activity(self._describe(block.get("name") or "?", block.get("input") or {}))

    def _describe(self, name: str, arguments: dict[str, Any]) -> str:
        """"Write hello.txt", "Bash pytest -q", "mcp__phaseloom__complete_task"."""
        target = next((str(arguments[f]) for f in _TARGET_FIELDS if arguments.get(f)), "")
        if target and self._cwd and target.startswith(self._cwd.rstrip("/") + "/"):
            target = str(PurePosixPath(target).relative_to(self._cwd))
        return f"{name} {target}".strip()

    def _result(self, event: dict[str, Any]) -> None:
        state = self.state
        state.session_id = event.get("session_id") or state.session_id
        text = event.get("result") if isinstance(event.get("result"), str) else ""
        failed = bool(event.get("is_error")) or str(event.get("subtype", "")).startswith("error")
        if text.strip() and not failed:  # a failed run's "result" is the CLI's error, not the agent's words
            state.final_message = text.strip()
        if isinstance(event.get("total_cost_usd"), (int, float)):
            state.cost_usd = float(event["total_cost_usd"])
        state.usage = _usage(event, state.model)
        if failed:
            self._error(event, text)

    def _error(self, event: dict[str, Any], text: str) -> None:
        status = event.get("api_error_status")
        subtype = event.get("subtype") if event.get("subtype") != "success" else None  # "success" + is_error
        parts = (subtype, status, self._api_error, text, *(event.get("errors") or []))
        detail = " ".join(str(part) for part in parts if part)
        self.state.errors.append(f"claude: {detail}"[:500])
        if status == 429 or _RATE_LIMIT.search(detail):
            self.state.rate_limited = True
            wait = _RETRY_AFTER.search(detail)
            self.state.retry_after_seconds = float(wait.group(1)) if wait else self._retry_delay
        if status in (401, 403) or self._api_error == "authentication_failed" or _AUTH.search(detail):
            self.state.auth_failed = True


def _model_name(model: Any) -> str | None:
    return _MODEL_SUFFIX.sub("", model) if isinstance(model, str) and model else None


def _usage(event: dict[str, Any], model: str | None) -> list[UsageReport]:
    """Per model from ``modelUsage`` (with its USD figure); else the run's ``usage`` under the session's model.

    Cached prompt tokens (read or written) are input the model processed, so they count as input.
    """
    reports = []
    for name, figures in (event.get("modelUsage") or {}).items():
        tokens_in = sum(int(figures.get(k) or 0) for k in
                        ("inputTokens", "cacheReadInputTokens", "cacheCreationInputTokens"))
        cost = figures.get("costUSD")
        reports.append(UsageReport(_model_name(name) or name, tokens_in, int(figures.get("outputTokens") or 0),
                                   float(cost) if isinstance(cost, (int, float)) else None))
    if reports:
        return reports
    usage = event.get("usage") or {}
    tokens_in = sum(int(usage.get(k) or 0) for k in
                    ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
    tokens_out = int(usage.get("output_tokens") or 0)
    return [UsageReport(model or "claude", tokens_in, tokens_out)] if tokens_in or tokens_out else []
