"""Launch templates: the parameters a user fills to start a workflow, checked and rendered.

Pure rules, no I/O: :func:`check_values` turns what a user gave (CLI ``key=value`` strings or
JSON values) into typed values, with one problem per parameter; :func:`render` puts them into
the prompt. Rendering is one pass over the text, so a value that itself contains ``{other}``
is never substituted again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phaseloom.domain.errors import InvalidInput, WorkflowInvalid, WorkflowProblem

PARAMETER_TYPES = ("text", "textarea", "dropdown", "number", "boolean")
MAX_VALUE_CHARS = 100_000
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}

Value = str | int | float | bool


@dataclass(frozen=True)
class LaunchParameter:
    name: str
    label: str = ""
    type: str = "text"
    required: bool = True
    default: Value | None = None
    options: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class LaunchTemplate:
    parameters: tuple[LaunchParameter, ...]
    first_task_prompt: str
    ticket_title: str = ""

    def parameter(self, name: str) -> LaunchParameter | None:
        return next((p for p in self.parameters if p.name == name), None)


class LaunchInvalid(WorkflowInvalid):
    """A launch refused for its parameters: one problem per parameter, nothing was created."""

    code = "launch_invalid"

    def __init__(self, workflow: str, problems: list[tuple[str, str]]) -> None:
        self.problems = [WorkflowProblem(message, field=name, file=f"launch of {workflow}")
                         for name, message in problems]
        lines = "\n".join(f"  {name}: {message}" for name, message in problems)
        InvalidInput.__init__(self, f"launch of {workflow} refused ({len(problems)} problem(s)); "
                                    f"nothing was created:\n{lines}")


def default_problem(parameter: LaunchParameter) -> str | None:
    """Why a parameter's declared default does not fit its type, or None."""
    if parameter.default is None:
        return None
    _, problem = _typed(parameter, parameter.default)
    return f"default {parameter.default!r} does not fit: {problem}" if problem else None


def check_values(template: LaunchTemplate, given: Mapping[str, Any]) -> tuple[dict[str, Value], list[tuple[str, str]]]:
    """Typed values for every parameter, and ``(parameter, problem)`` for each one that is wrong.

    A missing or empty value takes the default; a required parameter without one is a problem;
    an optional one becomes ``""``. A name the template does not declare is a problem too.
    """
    problems: list[tuple[str, str]] = []
    names = [p.name for p in template.parameters]
    for name in given:
        if name not in names:
            known = ", ".join(names) or "none"
            problems.append((str(name), f"not a parameter of this launch template (its parameters: {known})"))
    values: dict[str, Value] = {}
    for parameter in template.parameters:
        raw = given.get(parameter.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if parameter.default is not None:
                values[parameter.name] = parameter.default
            elif parameter.required:
                problems.append((parameter.name, f"required ({_describe(parameter)})"))
            else:
                values[parameter.name] = ""
            continue
        value, problem = _typed(parameter, raw)
        if problem:
            problems.append((parameter.name, problem))
        else:
            values[parameter.name] = value
    return values, problems


def _typed(parameter: LaunchParameter, raw: Any) -> tuple[Value, str | None]:
    kind = parameter.type
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw, None
        text = str(raw).strip().lower() if isinstance(raw, (str, int)) else ""
        if text in _TRUE or text in _FALSE:
            return text in _TRUE, None
        return False, f"expected true or false, not {raw!r}"
    if kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            return 0, f"expected a number, not {raw!r}"
        try:
            number = int(raw) if isinstance(raw, int) or re.fullmatch(r"\s*[-+]?\d+\s*", str(raw)) else float(raw)
        except ValueError:
            return 0, f"expected a number, not {raw!r}"
        if isinstance(number, float) and not math.isfinite(number):
            return 0, f"expected a finite number, not {raw!r}"
        return number, None
    if not isinstance(raw, str):
        return "", f"expected text, not {type(raw).__name__}"
    if len(raw) > MAX_VALUE_CHARS:
        return "", f"{len(raw)} characters; at most {MAX_VALUE_CHARS}"
    if kind == "dropdown" and raw not in parameter.options:
        return "", f"{raw!r} is not one of the options: {', '.join(parameter.options)}"
    if kind == "text" and "\n" in raw:
        return "", "a text parameter is one line (use a textarea parameter for several)"
    return raw, None


def _describe(parameter: LaunchParameter) -> str:
    text = parameter.label or parameter.name
    if parameter.type == "dropdown":
        text += f"; one of {', '.join(parameter.options)}"
    elif parameter.type != "text":
        text += f"; {parameter.type}"
    return text


def render(text: str, values: Mapping[str, Value]) -> str:
    """``text`` with each ``{name}`` of a given value replaced; other braces stay as written."""
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return _PLACEHOLDER.sub(replace, text)


def placeholders(text: str) -> list[str]:
    """The ``{name}`` placeholders of ``text``, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(text)))
