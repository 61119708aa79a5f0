"""What an agent CLI's structured output tells us, gathered while it runs.

Each preset has a parser that reads the CLI's stdout one line at a time (Claude Code's
``stream-json``, Codex's ``exec --json`` events, OpenCode's ``--format json``, Aider's plain text)
and fills one :class:`StreamState`: the session id, the last tool call (live activity), token usage,
the CLI's own cost figure, the final message and any error the CLI reported (a rate limit, a
refused login). The runtime turns the state into the task's outcome; nothing here does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from phaseloom.domain.costs import UsageReport


@dataclass
class StreamState:
    session_id: str | None = None
    model: str | None = None
    activity: str | None = None          # the last thing the agent did, e.g. "tool: Write hello.txt"
    activity_changed: bool = False       # set by parsers, cleared by the runtime once it has shown it
    final_message: str = ""              # the agent's last words (its result), never our own log lines
    usage: list[UsageReport] = field(default_factory=list)
    cost_usd: float | None = None        # the CLI's own figure for the whole run, when it gives one
    errors: list[str] = field(default_factory=list)  # errors the CLI reported in its stream
    tool_calls: int = 0
    # What the parser recognised in the stream (the runtime also matches the log's tail by pattern):
    rate_limited: bool = False           # the provider said 429 / rate limit / usage limit
    retry_after_seconds: float | None = None  # when it said how long to wait (Retry-After, "resets at")
    auth_failed: bool = False            # not logged in, 401, invalid key: a person must fix it

    def set_activity(self, text: str) -> None:
        self.activity = text[:200]
        self.activity_changed = True


class StreamParser(Protocol):
    state: StreamState

    def feed(self, line: str) -> None:
        """Take one line of the CLI's stdout (without its newline)."""


class PlainTextParser:
    """For a CLI without structured output: the last non-empty lines are its final message."""

    def __init__(self, keep_lines: int = 20) -> None:
        self.state = StreamState()
        self._lines: list[str] = []
        self._keep = keep_lines

    def feed(self, line: str) -> None:
        text = line.rstrip()
        if text:
            self._lines = (self._lines + [text])[-self._keep:]
            self.state.final_message = "\n".join(self._lines)


def json_object(line: str) -> dict[str, Any] | None:
    """``line`` as a JSON object, or None when it is not one (CLIs mix in plain lines)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
