"""Read YAML with line numbers, and map validation errors back to file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ALIASES = 100


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; any problem becomes a :class:`WorkflowInvalid` naming the file and line."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkflowInvalid([WorkflowProblem(f"cannot read file: {exc.strerror or exc}", file=name)]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise WorkflowInvalid([WorkflowProblem(
            f"file is {len(raw)} bytes; workflow files are limited to {MAX_FILE_BYTES}", file=name)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise WorkflowInvalid([WorkflowProblem("file is not valid UTF-8", file=name, line=line)]) from None
    if text.count("*") and _alias_count(text) > MAX_ALIASES:
        raise WorkflowInvalid([WorkflowProblem(
            f"too many YAML aliases (more than {MAX_ALIASES}); refusing a possible alias bomb", file=name)])
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise WorkflowInvalid([WorkflowProblem(f"YAML syntax error: {problem}", file=name, line=line)]) from None
    except (YAMLError, RecursionError, ValueError) as exc:
        raise WorkflowInvalid([WorkflowProblem(f"YAML error: {exc}", file=name)]) from None


def _alias_count(text: str) -> int:
    import re

    return len(re.findall(r"(?:^|[\s\[{,:-])\*[A-Za-z0-9_\-]+", text))


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


def dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problems_from_validation(exc: ValidationError, data: Any, file: str,
                             locate: "callable | None" = None) -> list[WorkflowProblem]:
    """One problem per pydantic error, with the line looked up in the parsed YAML."""
    problems = []
    for error in exc.errors():
        path = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        file_name, line = (locate(path) if locate else (file, line_of(data, path)))
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(WorkflowProblem(message, field=dotted(path), file=file_name, line=line))
    return problems
