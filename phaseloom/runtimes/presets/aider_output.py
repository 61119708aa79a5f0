"""Aider's own output (``--no-pretty --no-stream``), read line by line: it has no structured mode.

What Aider 0.86 prints, in order: a header (``Aider v…``, ``Model: <name> with <format> edit
format``, ``Git repo: …``, ``Repo-map: …``); then for each model call the reply text (prose and
the edit blocks of its edit format: a file name line and a fenced block for "whole", SEARCH/REPLACE
blocks for "diff") followed by ``Tokens: N sent[, C cache write][, H cache hit], M received.`` and,
when the model has a price, ``Cost: $x message, $y session.`` (on the same line, or the next);
then ``Applied edit to <file>`` for each file written. Provider failures are printed as
``litellm.<Kind>Error: …`` plus a line of advice, and Aider still exits 0 after them, so the
parser's ``rate_limited`` / ``auth_failed`` are what tell the runtime the run failed.
"""

from __future__ import annotations

import re

from phaseloom.domain.costs import UsageReport
from phaseloom.domain.rate_limits import retry_after_seconds
from phaseloom.runtimes.streams import StreamState

_MODEL = re.compile(r"^Model: (\S+)")
_TOKENS = re.compile(r"^Tokens: ([\d.]+k?) sent(?:, ([\d.]+k?) cache write)?(?:, ([\d.]+k?) cache hit)?, "
                     r"([\d.]+k?) received\.")
_COST = re.compile(r"Cost: \$([\d.]+) message, \$([\d.]+) session\.")
_APPLIED = re.compile(r"^Applied edit to (.+)$")
_PROVIDER_ERROR = re.compile(r"^litellm\.(\w+Error): (.*)$")
_RATE_LIMIT_ERRORS = ("RateLimitError",)
_AUTH_ERRORS = ("AuthenticationError", "PermissionDeniedError")
_HEADER = re.compile(r"^(Aider v\d|Model: |Weak model: |Editor model: |Git repo: |Repo-map: |Main model: )")
# Aider's own status lines, never part of what the model said.
_STATUS = re.compile(r"^(Applied edit to |Added .* to the chat|Creating empty file |Tokens: |Cost: |Retrying in |"
                     r"Warning|Update git (name|email) with|You can skip this check|https://aider\.chat/|"
                     r"The API provider |litellm\.|Did not apply edit|Only \d+ reflections)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_EDIT_MARKERS = re.compile(r"^(<<<<<<< SEARCH|=======|>>>>>>> REPLACE)\s*$")


class AiderOutputParser:
    def __init__(self) -> None:
        self.state = StreamState()
        self._reply: list[str] = []      # lines since the last boundary: the reply being printed
        self._applied: list[str] = []
        self._error: list[str] | None = None  # the lines of a provider error being read (it wraps)

    def feed(self, line: str) -> None:
        text = line.rstrip()
        if self._error is not None:
            if text and not _STATUS.match(text):
                self._error.append(text.strip())
                self._classify_error()
                return
            self._error = None
        if self._header(text) or self._provider_error(text):
            return
        if tokens := _TOKENS.match(text):
            self._usage(tokens)
            self._finish_reply()
        elif cost := _COST.search(text):
            self._cost(cost)
        elif applied := _APPLIED.match(text):
            self._applied.append(applied.group(1).strip())
            self.state.tool_calls += 1
            self.state.set_activity(f"edit: {applied.group(1).strip()}")
            if not self.state.final_message:
                self.state.final_message = f"Applied edits to {', '.join(self._applied)}"
        else:
            self._reply.append(text)

    # -- the parts --------------------------------------------------------------------
    def _header(self, text: str) -> bool:
        if not _HEADER.match(text):
            return False
        if model := _MODEL.match(text):
            self.state.model = model.group(1)
        self._reply = []
        return True

    def _provider_error(self, text: str) -> bool:
        if not _PROVIDER_ERROR.match(text):
            return False
        self._error = [text]
        self._reply = []
        self.state.errors.append(text)
        self._classify_error()
        return True

    def _classify_error(self) -> None:
        """Update the latest error from all its lines so far (Aider wraps long messages)."""
        message = " ".join(self._error or [])
        self.state.errors[-1] = message
        kind = _PROVIDER_ERROR.match(message).group(1)  # type: ignore[union-attr]  # its first line matched
        if kind in _RATE_LIMIT_ERRORS:
            self.state.rate_limited = True
            self.state.retry_after_seconds = retry_after_seconds(message)
        elif kind in _AUTH_ERRORS:
            self.state.auth_failed = True

    def _usage(self, tokens: re.Match[str]) -> None:
        # A model call went through after Aider's own retries: an earlier rate limit no longer decides the run.
        self.state.rate_limited, self.state.retry_after_seconds = False, None
        sent, received = _count(tokens.group(1)), _count(tokens.group(4))
        self.state.usage.append(UsageReport(self.state.model or "aider", sent, received))
        if cost := _COST.search(tokens.string):
            self._cost(cost)

    def _cost(self, cost: re.Match[str]) -> None:
        message_usd, session_usd = float(cost.group(1)), float(cost.group(2))
        if self.state.usage and self.state.usage[-1].cost_usd is None:
            last = self.state.usage[-1]
            self.state.usage[-1] = UsageReport(last.model, last.input_tokens, last.output_tokens, message_usd)
        self.state.cost_usd = session_usd

    def _finish_reply(self) -> None:
        prose = reply_prose(self._reply)
        self._reply = []
        if prose:
            self.state.final_message = prose


def reply_prose(lines: list[str]) -> str:
    """What the model said in words: the reply without its edit blocks, file name lines and Aider's status."""
    kept: list[str] = []
    fenced = False
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
            while kept and (not kept[-1].strip() or _looks_like_path(kept[-1])):
                kept.pop()  # the file name line an edit block starts with (and blank lines before it)
            continue
        if fenced or _EDIT_MARKERS.match(line) or _STATUS.match(line):
            continue
        kept.append(line)
    return "\n".join(line.strip() for line in kept if line.strip())


def _looks_like_path(line: str) -> bool:
    text = line.strip()
    return bool(text) and " " not in text and ("." in text or "/" in text)


def _count(text: str) -> int:
    """Aider's token figures: ``950``, ``1.2k``, ``12k``."""
    return round(float(text[:-1]) * 1000) if text.endswith("k") else int(float(text))
