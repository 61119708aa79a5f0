"""What a task's result must be to be stored and read back on every backend.

Python's ``json`` accepts what PostgreSQL's ``jsonb`` (and a later read) refuses: a lone surrogate
(``"\\ud800"``), ``NaN`` and ``Infinity`` (``1e400`` parses as infinity), U+0000, and nesting deep
enough to exhaust the recursion of a later encoder. The rule for plain values is the one workflow
files follow (:mod:`phaseloom.domain.plain_data`); a result is also bounded in size.
"""

from __future__ import annotations

import json

from phaseloom.domain.plain_data import UnplainData, plain_copy

MAX_CHARS = 1_000_000  # the result's length as JSON text


def json_problem(value: object, *, max_chars: int = MAX_CHARS) -> str | None:
    """Why ``value`` cannot be stored as JSON (a plain sentence naming where), or None when it can."""
    try:
        plain_copy(value)
    except UnplainData as exc:
        return f"{_where(exc.path)}: {exc.message}"
    if len(json.dumps(value, ensure_ascii=False)) > max_chars:
        return f"the value is more than {max_chars:,} characters as JSON"
    return None


def storable_text(text: str) -> str:
    """``text`` with what no backend stores replaced: lone surrogates by U+FFFD, U+0000 dropped.

    For a failure's words (an agent's log tail, say), which must be kept whatever they hold."""
    try:
        return plain_copy(text)
    except UnplainData:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "")


def _where(path: tuple) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part[:40]}" for part in path)
