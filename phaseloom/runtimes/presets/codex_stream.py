"""Codex CLI's ``exec --json``: one JSON event per line on stdout (its log lines go to stderr).

The events phaseloom reads (as Codex CLI 0.171.0 writes them):

- ``{"type":"thread.started","thread_id":…}`` — the session id (``codex exec resume <id>`` continues it)
- ``{"type":"item.started"|"item.updated"|"item.completed","item":{"id","type",…}}`` with ``type``
  ``mcp_tool_call`` (``server``, ``tool``, ``arguments``, ``status``), ``file_change`` (``changes``:
  ``[{"path","kind"}]``), ``command_execution`` (``command``, ``exit_code``), ``agent_message``
  (``text``), ``web_search``, ``reasoning``, and ``error`` (a warning, e.g. unknown model metadata)
- ``{"type":"turn.completed","usage":{"input_tokens","cached_input_tokens","output_tokens",…}}`` — no
  model name and no USD figure, so the model comes from Codex's configuration and the pricing table prices it
- ``{"type":"error","message":…}`` — ``"Reconnecting... n/5 (…)"`` while Codex retries the provider
  itself (a 429 included: it does not mean the run failed), else the error it gave up with
- ``{"type":"turn.failed","error":{"message":…}}`` — the turn ended on that error; exit code 1

Messages seen: ``exceeded retry limit, last status: 429 Too Many Requests``, ``You've hit your usage
limit. … try again at 2:03 AM.`` (local time; ``Dec 2nd, 2026 2:03 AM`` on another day), ``unexpected
status 401 Unauthorized: …``, ``Missing environment variable: `FAKE_API_KEY`.``. Before any event,
a session that cannot start prints ``Error: thread/start: … required MCP servers failed to initialize``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from phaseloom.domain.costs import UsageReport
from phaseloom.domain.rate_limits import MAX_WAIT_SECONDS, is_rate_limit, retry_after_seconds
from phaseloom.runtimes.streams import StreamState, json_object

_RECONNECTING = "Reconnecting..."
_AUTH = re.compile(r"\b401\b|unauthori[sz]ed|invalid[\s_-]?api[\s_-]?key|incorrect api key|not logged in|"
                   r"missing environment variable|codex login|authentication", re.IGNORECASE)
# Codex's own wording for a usage limit: "try again at 2:03 AM" today, "Dec 2nd, 2026 2:03 AM" later on.
_TRY_AGAIN_AT = re.compile(r"try again at\s+(?:(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})(?:st|nd|rd|th),\s+"
                           r"(?P<year>\d{4})\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<ampm>[AP]M)", re.IGNORECASE)
_FATAL_LINE = re.compile(r"^Error: |\bERROR codex")
UNKNOWN_MODEL = "unknown"


class CodexStreamParser:
    """Fills a :class:`StreamState` from ``codex exec --json``; ``model`` is the one Codex is configured with."""

    def __init__(self, model: str | None = None) -> None:
        self.state = StreamState(model=model)
        self._counted: set[Any] = set()

    def feed(self, line: str) -> None:
        event = json_object(line)
        if event is None:
            self._plain(line)
            return
        kind = event.get("type")
        if kind == "thread.started":
            self.state.session_id = event.get("thread_id") or self.state.session_id
        elif kind in ("item.started", "item.updated", "item.completed"):
            self._item(event.get("item") or {})
        elif kind == "turn.completed":
            self._usage(event.get("usage") or {})
        elif kind == "turn.failed":
            self._failure(str((event.get("error") or {}).get("message") or "the turn failed"))
        elif kind == "error":
            self._error_event(str(event.get("message") or ""))

    def _item(self, item: dict[str, Any]) -> None:
        if item.get("type") == "agent_message" and isinstance(item.get("text"), str) and item["text"].strip():
            self.state.final_message = item["text"].strip()
            return
        activity = _describe(item)
        if activity is None:
            return
        if item.get("id") not in self._counted:   # started, then completed: one tool call
            self._counted.add(item.get("id"))
            self.state.tool_calls += 1
        failed = item.get("status") == "failed"
        self.state.set_activity(activity + (" (failed)" if failed else ""))
        error = (item.get("error") or {}).get("message") if isinstance(item.get("error"), dict) else None
        if failed and error:
            # Not the run's failure (the agent may recover), but the first thing to read when it never reports.
            self.state.errors.append(f"codex: {activity} failed: {error}"[:500])

    def _usage(self, usage: dict[str, Any]) -> None:
        # input_tokens already includes the cached ones, output_tokens the reasoning ones (OpenAI's usage).
        self.state.usage.append(UsageReport(self.state.model or UNKNOWN_MODEL, int(usage.get("input_tokens") or 0),
                                            int(usage.get("output_tokens") or 0)))

    def _error_event(self, message: str) -> None:
        if message.startswith(_RECONNECTING):
            # Codex retries the provider on its own; only the error it gives up with counts.
            self.state.set_activity(message)
        elif message:
            self._failure(message)

    def _plain(self, line: str) -> None:
        text = line.strip()
        if _FATAL_LINE.search(text):
            self._failure(text)

    def _failure(self, message: str) -> None:
        state = self.state
        entry = f"codex: {message}"[:500]
        if entry in state.errors:     # the final "error" event and "turn.failed" repeat one message
            return
        state.errors.append(entry)
        if is_rate_limit(message):
            state.rate_limited = True
            state.retry_after_seconds = codex_retry_after(message)
        elif _AUTH.search(message):
            state.auth_failed = True


def _describe(item: dict[str, Any]) -> str | None:
    """What an item shows as live activity, or None for items that are not actions."""
    kind = item.get("type")
    if kind == "mcp_tool_call":
        return f"mcp {item.get('server')}.{item.get('tool')}"
    if kind == "file_change":
        changes = item.get("changes") or []
        names = ", ".join(f"{c.get('kind', 'edit')} {PurePosixPath(str(c.get('path', '?'))).name}" for c in changes)
        return f"apply_patch {names}".strip()
    if kind == "command_execution":
        return f"$ {item.get('command', '')}"
    if kind == "web_search":
        return f"web search {item.get('query', '')}".strip()
    return None


def codex_retry_after(message: str, now: datetime | None = None) -> float | None:
    """Seconds until Codex says to try again; its clock times are in this machine's local time."""
    match = _TRY_AGAIN_AT.search(message)
    if match is None:
        return retry_after_seconds(message)
    now = now or datetime.now().astimezone()
    hour = int(match["hour"]) % 12 + (12 if match["ampm"].upper() == "PM" else 0)
    if match["year"]:
        stamp = f"{match['year']} {match['month'].title()} {int(match['day'])} {hour}:{match['minute']}"
        at = datetime.strptime(stamp, "%Y %b %d %H:%M").replace(tzinfo=now.tzinfo)
    else:
        at = now.replace(hour=hour, minute=int(match["minute"]), second=0, microsecond=0)
        if at < now - timedelta(minutes=1):   # printed as "today" but passed: the clock rolled over
            at += timedelta(days=1)
    return min(max(0.0, (at - now).total_seconds()), MAX_WAIT_SECONDS)
