"""Read YAML with line numbers, and map validation errors back to file, line and field."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.parser import ParserError
from ruamel.yaml.scanner import ScannerError

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem
from phaseloom.domain.workflow_rules import dotted

MAX_FILE_BYTES = 512 * 1024  # real workflows are a few KB; parsing costs ~7 µs per byte
MAX_ALIASES = 100
MAX_NESTING = 200  # the parser recurses per level; refuse before it can run out of stack
_ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s\[\]{},]+")


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; any problem becomes a :class:`WorkflowInvalid` naming the file and line.

    Duplicate keys are errors (ruamel's default); size, aliases and nesting are bounded so a
    hostile file costs little. The result keeps ruamel's line information for :func:`line_of`.
    """
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkflowInvalid([WorkflowProblem(f"cannot read file: {exc.strerror or exc}", file=name)]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise WorkflowInvalid([WorkflowProblem(
            f"file is {len(raw)} bytes; workflow files are limited to {MAX_FILE_BYTES}", file=name)])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise WorkflowInvalid([WorkflowProblem(
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            file=name, line=line)]) from None
    if "*" in text and _alias_count(text) > MAX_ALIASES:
        raise WorkflowInvalid([WorkflowProblem(
            f"too many YAML aliases (more than {MAX_ALIASES}); refusing a possible alias bomb", file=name)])
    deep_line = _too_deep_line(text)
    if deep_line is not None:
        raise WorkflowInvalid([WorkflowProblem(
            f"YAML is nested too deeply (more than {MAX_NESTING} levels)", file=name, line=deep_line)])
    return _parse(text, name)


def _parse(text: str, name: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        raise WorkflowInvalid([syntax_problem(exc, name)]) from None
    except RecursionError:
        raise WorkflowInvalid([WorkflowProblem("YAML is nested too deeply", file=name)]) from None
    except (YAMLError, ValueError, TypeError) as exc:
        raise WorkflowInvalid([WorkflowProblem(f"YAML error: {exc}", file=name)]) from None


def syntax_problem(exc: MarkedYAMLError, name: str) -> WorkflowProblem:
    """Locate a YAML error where the problem starts, with the parser's give-up point as a hint.

    The scanner and parser report an unclosed quote or bracket where they stopped looking,
    often the end of the file; their ``context_mark`` ("while scanning a quoted scalar")
    is the opening quote or bracket the user has to fix. Other errors (a duplicate key)
    are located at the problem itself: there the context is only the enclosing mapping.
    """
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    start, gave_up = exc.problem_mark, None
    if isinstance(exc, (ScannerError, ParserError)) and exc.context_mark is not None and exc.context:
        start, gave_up = exc.context_mark, exc.problem_mark
    start = start or exc.context_mark
    message = f"YAML syntax error: {problem}"
    if gave_up is not None:
        what = exc.context.strip().removeprefix("while scanning ").removeprefix("while parsing ")
        what = "the " + what.removeprefix("a ").removeprefix("an ")
        message = (f"YAML syntax error in {what} that starts here: {problem} "
                   f"(the parser gave up at line {gave_up.line + 1}, column {gave_up.column + 1})")
    if start is None:
        return WorkflowProblem(message, file=name)
    return WorkflowProblem(message, file=name, line=start.line + 1, column=start.column + 1)


def _too_deep_line(text: str) -> int | None:
    """The first line where brackets or indentation nest deeper than :data:`MAX_NESTING`.

    A rough scan (quoted text is skipped line by line) that errs only on absurd files.
    """
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) - len(line.lstrip(" -")) > 2 * MAX_NESTING:
            return number
        if depth == 0 and "[" not in line and "{" not in line:
            continue
        quote = ""
        for char in line:
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#":
                break
            elif char in "[{":
                depth += 1
                if depth > MAX_NESTING:
                    return number
            elif char in "]}":
                depth = max(0, depth - 1)
    return None


def _alias_count(text: str) -> int:
    return len(_ALIAS.findall(text))


def line_of(data: Any, path: tuple) -> int | None:
    """The 1-based line of the deepest node on ``path`` that the parsed document knows."""
    node, line = data, None
    for part in path:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, AttributeError, TypeError):
            break
    if line is None and hasattr(data, "lc"):
        line = data.lc.line + 1
    return line


Location = tuple[str, "int | None", str]
"""Where a field path points: file, 1-based line (or None) and the field as the user wrote it."""

Locator = Callable[[tuple], Location]


def problems_from_validation(exc: ValidationError, locate: Locator) -> list[WorkflowProblem]:
    """One problem per pydantic error, located by ``locate``."""
    problems = []
    for error in exc.errors():
        path = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        file_name, line, field = locate(path)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(WorkflowProblem(message, field=field, file=file_name, line=line))
    return problems


def yaml_locator(file: str, data: Any) -> Locator:
    """Locate field paths in one parsed YAML file."""
    return lambda path: (file, line_of(data, path), dotted(path))
