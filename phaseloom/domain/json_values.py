"""What a JSON value must be to be stored and read back on every backend.

Python's ``json`` accepts what PostgreSQL's ``jsonb`` (and a later read) refuses: a lone surrogate
(``"\\ud800"``), ``NaN`` and ``Infinity`` (``1e400`` parses as infinity), and nesting deep enough to
exhaust the recursion of a later encoder. A value that passes :func:`json_problem` stores and reads
back on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import math

MAX_DEPTH = 64
MAX_CHARS = 1_000_000  # total characters of the value's strings (keys included)


def json_problem(value: object, *, max_depth: int = MAX_DEPTH, max_chars: int = MAX_CHARS) -> str | None:
    """Why ``value`` cannot be stored as JSON (a plain sentence naming where), or None when it can.

    Walked without recursion, so a hostile depth cannot exhaust the stack while checking it.
    """
    chars = 0
    stack: list[tuple[object, str, int]] = [(value, "$", 1)]
    while stack:
        item, where, depth = stack.pop()
        if depth > max_depth:
            return f"the value is nested deeper than {max_depth} levels (at {where[:60]}...)"
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    return f"{where} has a key that is not a string"
                chars += len(key)
                if _bad_text(key):
                    return f"{where} has a key that is not valid Unicode (a lone surrogate)"
                stack.append((inner, f"{where}.{key[:40]}", depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((inner, f"{where}[{i}]", depth + 1) for i, inner in enumerate(item))
        elif isinstance(item, str):
            chars += len(item)
            if _bad_text(item):
                return f"{where} is not valid Unicode (a lone surrogate)"
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{where} is {item!r}: numbers must be finite"
        elif item is not None and not isinstance(item, (bool, int, float)):
            return f"{where} is a {type(item).__name__}, not a JSON value"
        if chars > max_chars:
            return f"the value holds more than {max_chars:,} characters of text"
    return None


def _bad_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return "\x00" in text  # PostgreSQL's jsonb cannot hold U+0000 either


def storable_text(text: str) -> str:
    """``text`` with what no backend stores replaced: lone surrogates by U+FFFD, U+0000 dropped.

    For a failure's words (an agent's log tail, say), which must be kept whatever they hold."""
    if not _bad_text(text):
        return text
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "")
