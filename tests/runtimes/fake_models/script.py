"""What the fake model does: a list of steps, plus errors served before any step (a 429, a 500)."""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Turn:
    """What a protocol module knows about one request, handed to a step's ``args`` callable."""

    index: int                      # how many model turns this conversation already had
    tool_names: list[str]           # the tools the client offered, as it named them
    system: str                     # the system prompt's text (where a CLI says its working directory)
    last_tool_result: str           # the text of the latest tool result in the conversation ("" if none)
    body: dict[str, Any]            # the whole request body


@dataclass
class Step:
    """One model turn: call ``tool`` (a name or a glob such as ``*get_my_task``) with ``args``, and/or say ``text``.

    ``args`` may be a callable taking the :class:`Turn`, for values only the request knows (a path).
    A step with no tool ends the conversation with ``text`` as the final message.
    """

    tool: str | None = None
    args: dict[str, Any] | Callable[[Turn], dict[str, Any]] = field(default_factory=dict)
    text: str = ""

    def resolve_tool(self, offered: Iterable[str]) -> str:
        """The offered tool name this step means; a clear error when the client offers none matching."""
        offered = list(offered)
        if self.tool in offered:
            return self.tool
        matches = [name for name in offered if fnmatch.fnmatchcase(name, self.tool or "")]
        if not matches:
            raise LookupError(f"the client offers no tool matching {self.tool!r}; it offers {offered}")
        return matches[0]

    def resolve_args(self, turn: Turn) -> dict[str, Any]:
        return self.args(turn) if callable(self.args) else dict(self.args)


@dataclass
class Reply:
    """An error the server answers with instead of a model turn (``status`` 429, 500, 401…)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Script:
    steps: list[Step] = field(default_factory=list)
    # Served, in order, to the first requests that would have been model turns; then the steps run.
    errors: list[Reply] = field(default_factory=list)
    input_tokens: int = 120     # usage reported for every model turn
    output_tokens: int = 30
    final_text: str = "Done."   # said once the steps are used up
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_error(self) -> Reply | None:
        with self._lock:
            return self.errors.pop(0) if self.errors else None

    def step(self, index: int) -> Step:
        return self.steps[index] if index < len(self.steps) else Step(text=self.final_text)
