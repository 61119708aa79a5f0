"""Dispatch a workflow path to its loader and validate the result with file/line locations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem
from phaseloom.domain.workflow_rules import lint_workflow
from phaseloom.loaders.yaml_source import dotted, line_of, problems_from_validation, read_yaml
from phaseloom.schemas.workflow import WorkflowDocument

Locator = Callable[[tuple], tuple[str, int | None]]


def load_workflow_source(path: str | Path) -> WorkflowDocument:
    """Load and fully validate a workflow from a YAML file, a phase folder or a Python file.

    Raises :class:`WorkflowInvalid` listing every problem with its file, line and field.
    """
    path = Path(path)
    if not path.exists():
        raise WorkflowInvalid([WorkflowProblem("no such file or folder", file=str(path))])
    if path.is_dir():
        from phaseloom.loaders.phase_folder import load_phase_folder

        return load_phase_folder(path)
    if path.suffix == ".py":
        from phaseloom.loaders.python_source import load_python_workflow

        return load_python_workflow(path)
    return load_yaml_workflow(path)


def load_yaml_workflow(path: Path) -> WorkflowDocument:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise WorkflowInvalid([WorkflowProblem(
            "expected a mapping with a 'phases:' list at the top level", file=str(path), line=1)])
    document_data: dict[str, Any] = dict(data)
    document_data.setdefault("name", path.stem)

    def locate(p: tuple) -> tuple[str, int | None]:
        return str(path), line_of(data, p)

    return validate_document(document_data, locate, str(path))


def validate_document(document_data: dict[str, Any], locate: Locator, file: str) -> WorkflowDocument:
    """Schema validation, then the workflow rules; every problem located."""
    try:
        document = WorkflowDocument.model_validate(document_data)
    except ValidationError as exc:
        raise WorkflowInvalid(problems_from_validation(exc, document_data, file, locate)) from None
    problems = []
    for field_path, message in lint_workflow(document.to_domain()):
        file_name, line = locate(field_path)
        problems.append(WorkflowProblem(message, field=dotted(field_path), file=file_name, line=line))
    if problems:
        raise WorkflowInvalid(problems)
    return document


def shipped_workflow(name: str) -> Path:
    """The path of a workflow file that ships with phaseloom (``software_development``, ``research``)."""
    return Path(__file__).resolve().parent.parent / "workflows" / f"{name}.yaml"
