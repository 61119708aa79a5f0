"""What a task's result must be to be stored and read back on every backend.

Python's ``json`` accepts what PostgreSQL's ``jsonb`` (and a later read) refuses: a lone surrogate
(``"\\ud800"``), ``NaN`` and ``Infinity`` (``1e400`` parses as infinity), U+0000, and nesting deep
enough to exhaust the recursion of a later encoder. The rule for plain values is the one workflow
files follow (:mod:`phaseloom.domain.plain_data`); a result is also bounded in size.
"""

from __future__ import annotations

import json
import math

from phaseloom.domain.plain_data import MAX_DEPTH, UnplainData, plain_copy

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
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").replace("\x00", "")


TOO_DEEP = "(nested too deep to show)"


def readable_copy(value: object) -> object:
    """``value`` as every encoder takes it, for a row stored before results were checked.

    Unchanged when it is plain already (the usual case: one C-speed ``json.dumps`` decides);
    else lone surrogates become U+FFFD, U+0000 is dropped, NaN and infinities become null and what
    is nested deeper than the plain-data limit is replaced by a short note. Nothing raises."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        if _depth_within(value, MAX_DEPTH):
            return value
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError):
        pass
    return _repaired(value, 0)


def _depth_within(value: object, limit: int) -> bool:
    """Iteratively, so a very deep value cannot exhaust the recursion here."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return False
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return True


def _repaired(value: object, depth: int) -> object:
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {storable_text(str(k)): _repaired(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_repaired(v, depth + 1) for v in value]
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return storable_text(str(value))


def _where(path: tuple) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part[:40]}" for part in path)
