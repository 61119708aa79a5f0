"""OpenCode's ``run --format json`` stream: one JSON event a line, each with the ``sessionID``.

The events (OpenCode 1.18): ``step_start``; ``tool_use`` once a tool call completed or failed
(``part.tool``, ``part.state.status``/``input``/``title``); ``text`` once a text part is whole
(``part.text``); ``step_finish`` after each model call (``part.tokens`` input/output/reasoning/cache,
``part.cost`` in USD, 0 when the model has no price in OpenCode's catalogue); ``error`` when the
session failed (``error.name`` and ``error.data`` with ``message``, ``statusCode`` and the
provider's ``responseHeaders``), after OpenCode's own retries, and then it exits 1. The events
do not name the model; :attr:`StreamState.model` stays unset unless a caller knows it.
"""

from __future__ import annotations

import re
from typing import Any

from phaseloom.domain.costs import UsageReport
from phaseloom.runtimes.streams import StreamState, json_object

UNNAMED_MODEL = "opencode"   # the cost record's model when the stream does not say (it never does)
_RATE_LIMIT = re.compile(r"rate.?limit|too many requests|usage limit|quota", re.IGNORECASE)
_AUTH = re.compile(r"invalid.{0,20}(api.?key|token)|unauthori[sz]ed|authentication|not logged in", re.IGNORECASE)
_INPUT_KEYS = ("filePath", "path", "command", "pattern", "url", "description")


class OpenCodeStreamParser:
    def __init__(self) -> None:
        self.state = StreamState()
        self._cost = 0.0

    def feed(self, line: str) -> None:
        event = json_object(line)
        if event is None:
            return
        if not self.state.session_id and isinstance(event.get("sessionID"), str):
            self.state.session_id = event["sessionID"]
        part = event.get("part") if isinstance(event.get("part"), dict) else {}
        kind = event.get("type")
        if kind == "tool_use":
            self._tool(part)
        elif kind == "text" and str(part.get("text") or "").strip():
            self.state.final_message = str(part["text"]).strip()
        elif kind == "step_finish":
            self._usage(part)
        elif kind == "error":
            self._error(event.get("error"))

    def _tool(self, part: dict[str, Any]) -> None:
        state = part.get("state") if isinstance(part.get("state"), dict) else {}
        self.state.tool_calls += 1
        what = state.get("title") or _describe(state.get("input"))
        failed = " (failed)" if state.get("status") == "error" else ""
        self.state.set_activity(f"tool: {part.get('tool', '?')} {what}".rstrip() + failed)

    def _usage(self, part: dict[str, Any]) -> None:
        tokens = part.get("tokens") if isinstance(part.get("tokens"), dict) else {}
        cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
        # OpenCode counts cached prompt tokens apart from "input"; they were all sent as input.
        sent = _int(tokens.get("input")) + _int(cache.get("read")) + _int(cache.get("write"))
        received = _int(tokens.get("output")) + _int(tokens.get("reasoning"))
        if sent or received:
            self.state.usage.append(UsageReport(self.state.model or UNNAMED_MODEL, sent, received))
        cost = part.get("cost")
        if isinstance(cost, (int, float)) and cost > 0:
            self._cost += float(cost)
            self.state.cost_usd = self._cost

    def _error(self, error: Any) -> None:
        error = error if isinstance(error, dict) else {}
        data = error.get("data") if isinstance(error.get("data"), dict) else {}
        message = str(data.get("message") or error.get("name") or "OpenCode reported an error")
        status = data.get("statusCode")
        self.state.errors.append(f"{error.get('name', 'Error')}: {message}"
                                 + (f" (HTTP {status})" if status else ""))
        if status == 429 or _RATE_LIMIT.search(message):
            self.state.rate_limited = True
            self.state.retry_after_seconds = _retry_after(data.get("responseHeaders"))
        elif status in (401, 403) or error.get("name") == "ProviderAuthError" or _AUTH.search(message):
            self.state.auth_failed = True


def _describe(tool_input: Any) -> str:
    if not isinstance(tool_input, dict):
        return ""
    for key in _INPUT_KEYS:
        if tool_input.get(key):
            return str(tool_input[key])
    return ""


def _retry_after(headers: Any) -> float | None:
    """Seconds from the provider's ``retry-after-ms`` or ``retry-after`` (seconds; a date is not used)."""
    headers = {str(k).lower(): v for k, v in headers.items()} if isinstance(headers, dict) else {}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers[name]) / scale)
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
