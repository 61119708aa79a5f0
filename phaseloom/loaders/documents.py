"""What every workflow loader shares: a located plain copy of the data, then validation.

Each loader (:mod:`~phaseloom.loaders.sources` for YAML, the phase folder, the Python and the
Hephaestus SDK loaders) reads its format into a plain document and hands it to
:func:`validate_document`, which checks the size limits, the schema and the workflow rules and
names the file, line and field of every problem.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem
from phaseloom.domain.phases import BoardColumn, Phase, Workflow, WorkflowMode
from phaseloom.domain.plain_data import UnplainData, plain_copy
from phaseloom.domain.workflow_rules import lint_workflow, reference_problems
from phaseloom.loaders.yaml_source import Locator, dotted, problems_from_validation
from phaseloom.schemas.workflow import WorkflowDocument

# Far beyond any real workflow; keeps validation, linting and storing a hostile file cheap.
MAX_PHASES = 500
MAX_BOARD_COLUMNS = 200


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
        problems = problems_from_validation(exc, locate)
        raise WorkflowInvalid(problems + _located(rough_reference_problems(document_data), locate)) from None
    problems = _located(lint_workflow(document.to_domain()), locate)
    if problems:
        raise WorkflowInvalid(problems)
    return document


def _located(found: list[tuple[tuple, str]], locate: Locator) -> list[WorkflowProblem]:
    problems = []
    for field_path, message in found:
        file_name, line, field = locate(field_path)
        problems.append(WorkflowProblem(message, field=field, file=file_name, line=line))
    return problems


def rough_reference_problems(data: dict[str, Any]) -> list[tuple[tuple, str]]:
    """:func:`reference_problems` on what can be read of a document the schema refused.

    Phases and columns without a string ``id`` are left out (the schema already names them);
    the paths of the problems found point into the original lists.
    """
    phase_rows = _rows_with_ids(data.get("phases"))
    column_rows = _rows_with_ids(data.get("board_columns"))
    ordered = any("sequence_order" in row for _, row in phase_rows)
    phases = tuple(
        Phase(id=row["id"], name="", is_terminal=row.get("is_terminal") is True,
              sequence_order=_int_or(row.get("sequence_order"), index) if ordered else index,
              allowed_transitions=_strings(row.get("allowed_transitions")))
        for index, row in phase_rows)
    columns = tuple(
        BoardColumn(id=row["id"], name="", position=index, phase_mapping=_strings(row.get("phase_mapping")),
                    auto_transition_to=row.get("auto_transition_to")
                    if isinstance(row.get("auto_transition_to"), str) else None)
        for index, row in column_rows)
    mode = WorkflowMode.FREE_FORM if data.get("mode") == WorkflowMode.FREE_FORM.value else WorkflowMode.STRUCTURED
    original = {"phases": [i for i, _ in phase_rows], "board_columns": [i for i, _ in column_rows]}
    found = reference_problems(Workflow(name="rough", phases=phases, board_columns=columns, mode=mode))
    return [((path[0], original[path[0]][path[1]]) + tuple(path[2:]) if len(path) > 1 else path, message)
            for path, message in found]


def _rows_with_ids(items: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(items, list):
        return []
    return [(i, row) for i, row in enumerate(items) if isinstance(row, dict) and isinstance(row.get("id"), str)]


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
