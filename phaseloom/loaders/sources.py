"""Dispatch a workflow path to its loader and validate the result with file/line locations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem
from phaseloom.domain.workflow_rules import lint_workflow
from phaseloom.domain.plain_data import UnplainData, plain_copy
from phaseloom.loaders.yaml_source import Locator, dotted, problems_from_validation, read_yaml, yaml_locator
from phaseloom.schemas.workflow import WorkflowDocument

# Far beyond any real workflow; keeps validation, linting and storing a hostile file cheap.
MAX_PHASES = 500
MAX_BOARD_COLUMNS = 200


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
    """An OmoiOS-style file: ``phases:`` and optional ``board_columns:``; ``name`` defaults to the file name."""
    data = read_yaml(path)
    locate = yaml_locator(str(path), data)
    if not isinstance(data, dict):
        raise WorkflowInvalid([WorkflowProblem(
            "expected a mapping with a 'phases:' list at the top level", file=str(path), line=1)])
    plain = plain_data(data, locate)
    plain.setdefault("name", path.stem)
    return validate_document(plain, locate)


def load_workflow_data(data: Any, *, file: str = "<data>", locate: Locator | None = None) -> WorkflowDocument:
    """Validate an in-memory document (a dict as parsed from YAML or JSON); problems name ``file``."""
    locate = locate or (lambda path: (file, None, dotted(path)))
    if not isinstance(data, dict):
        raise WorkflowInvalid([WorkflowProblem(
            f"expected a mapping with a 'phases:' list, not {type(data).__name__}", file=file)])
    return validate_document(plain_data(data, locate), locate)


def plain_data(data: Any, locate: Locator) -> Any:
    """:func:`plain_copy`, with its refusal turned into a located :class:`WorkflowInvalid`."""
    try:
        return plain_copy(data)
    except UnplainData as exc:
        file_name, line, field = locate(exc.path)
        raise WorkflowInvalid([WorkflowProblem(exc.message, field=field, file=file_name, line=line)]) from None


def validate_document(document_data: dict[str, Any], locate: Locator) -> WorkflowDocument:
    """Size limits, schema validation, then the workflow rules; every problem located.

    ``document_data`` must already be plain (see :func:`plain_data`).
    """
    for key, limit in (("phases", MAX_PHASES), ("board_columns", MAX_BOARD_COLUMNS)):
        items = document_data.get(key)
        if isinstance(items, list) and len(items) > limit:
            file_name, line, field = locate((key,))
            raise WorkflowInvalid([WorkflowProblem(
                f"{len(items)} entries; a workflow may have at most {limit}", field=field, file=file_name, line=line)])
    try:
        document = WorkflowDocument.model_validate(document_data)
    except ValidationError as exc:
        raise WorkflowInvalid(problems_from_validation(exc, locate)) from None
    problems = []
    for field_path, message in lint_workflow(document.to_domain()):
        file_name, line, field = locate(field_path)
        problems.append(WorkflowProblem(message, field=field, file=file_name, line=line))
    if problems:
        raise WorkflowInvalid(problems)
    return document


def shipped_workflow(name: str) -> Path:
    """The path of a workflow file that ships with phaseloom (``software_development``, ``research``)."""
    return Path(__file__).resolve().parent.parent / "workflows" / f"{name}.yaml"
