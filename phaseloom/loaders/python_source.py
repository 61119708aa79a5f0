"""Code-first workflows: a ``.py`` file that builds :class:`phaseloom.Workflow` from :class:`phaseloom.Phase`.

The file must leave the workflow in a module-level ``workflow`` (or ``WORKFLOW``), or define
``build_workflow()`` returning it; a plain dict shaped like a YAML workflow works too::

    from phaseloom import Phase, Workflow

    done = Phase(id="PHASE_DONE", is_terminal=True)
    build = Phase(id="PHASE_BUILD", allowed_transitions=[done])
    workflow = Workflow(name="tiny", phases=[build, done])

Loading runs the file, so it is as trusted as any code you run (workflow files are trusted
input, see docs/security.md). Problems are :class:`WorkflowInvalid` naming the file: an
exception raised by the file carries the line it was raised at; a problem the workflow rules
find points at the line of the ``Phase(id=...)`` call that defined the phase, when the file
has one with a literal id.
"""

from __future__ import annotations

import ast
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem
from phaseloom.loaders.documents import load_workflow_data
from phaseloom.loaders.yaml_source import Location, dotted
from phaseloom.schemas.workflow import WorkflowDocument

ENTRY_POINTS = ("workflow", "WORKFLOW", "build_workflow")


def load_python_workflow(path: Path) -> WorkflowDocument:
    """Run ``path`` and validate the workflow it defines; raises :class:`WorkflowInvalid`."""
    file = str(path)
    definition_lines = _definition_lines(path)  # also reports syntax errors before anything runs
    namespace = _run(path)
    value = _entry_point_value(namespace, path)
    if isinstance(value, WorkflowDocument):
        data = value.model_dump()
    elif isinstance(value, dict):
        data = value
    else:
        raise WorkflowInvalid([WorkflowProblem(
            f"the workflow must be a phaseloom.Workflow (or a dict), not {type(value).__name__}", file=file)])
    phase_ids = [p.get("id") if isinstance(p, dict) else None for p in data.get("phases", [])] \
        if isinstance(data.get("phases"), list) else []

    def locate(field_path: tuple) -> Location:
        line = definition_lines.get("workflow")
        if field_path[:1] == ("phases",) and len(field_path) > 1 and isinstance(field_path[1], int):
            if field_path[1] < len(phase_ids):
                line = definition_lines.get(phase_ids[field_path[1]], line)
        return file, line, dotted(field_path)

    return load_workflow_data(data, file=file, locate=locate)


def _definition_lines(path: Path) -> dict[str, int]:
    """Where ``Phase(id="X")`` calls are (``{"X": line}``) and where the workflow is built."""
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise WorkflowInvalid([WorkflowProblem(
            f"Python syntax error: {exc.msg}", file=str(path), line=exc.lineno)]) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WorkflowInvalid([WorkflowProblem(f"cannot read Python file: {exc}", file=str(path))]) from None
    lines: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "Workflow":
                lines.setdefault("workflow", node.lineno)
            for keyword in node.keywords:
                if (name and name.endswith("Phase") and keyword.arg == "id"
                        and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str)):
                    lines.setdefault(keyword.value.value, node.lineno)
    return lines


def _run(path: Path) -> dict[str, Any]:
    """Execute the file with its own folder importable; any exception becomes a located problem."""
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        return runpy.run_path(str(path), run_name="__phaseloom_workflow__")
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code is reported, not raised
        raise _failure(path, exc, "running the file") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def _failure(path: Path, exc: BaseException, what: str) -> WorkflowInvalid:
    """An exception from the user's code as problems at the line of ``path`` it came from."""
    line = _line_in(path, exc)
    if isinstance(exc, ValidationError):
        return WorkflowInvalid([
            WorkflowProblem("unknown field" if error["type"] == "extra_forbidden" else error["msg"],
                            field=dotted(tuple(error["loc"])), file=str(path), line=line)
            for error in exc.errors()
        ])
    text = str(exc)
    text = text if len(text) <= 500 else text[:500] + "…"
    return WorkflowInvalid([WorkflowProblem(f"{what} raised {type(exc).__name__}: {text}", file=str(path), line=line)])


def _line_in(path: Path, exc: BaseException) -> int | None:
    """The line of ``path`` nearest to where ``exc`` was raised."""
    target = str(path.resolve())
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and Path(frame.filename).resolve() == Path(target):
            line = frame.lineno
    return line


def _entry_point_value(namespace: dict[str, Any], path: Path) -> Any:
    for name in ENTRY_POINTS[:2]:
        if name in namespace:
            return namespace[name]
    builder = namespace.get("build_workflow")
    if callable(builder):
        try:
            return builder()
        except Exception as exc:  # noqa: BLE001
            raise _failure(path, exc, "build_workflow()") from None
    raise WorkflowInvalid([WorkflowProblem(
        "defines no workflow: set a module-level `workflow` (or `WORKFLOW`) to a phaseloom.Workflow, "
        "or define build_workflow()", file=str(path))])
