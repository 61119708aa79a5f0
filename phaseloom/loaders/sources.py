"""Dispatch a workflow path to its loader and validate the result with file/line locations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem
from phaseloom.domain.phases import BoardColumn, Phase, Workflow, WorkflowMode
from phaseloom.domain.workflow_rules import lint_workflow, reference_problems
from phaseloom.domain.plain_data import UnplainData, plain_copy
from phaseloom.loaders.omoios import KEPT, normalize_omoios, remap
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
        from phaseloom.loaders.hephaestus_sdk import is_sdk_package, load_sdk_package
        from phaseloom.loaders.phase_folder import has_phase_files, load_phase_folder

        if not has_phase_files(path) and is_sdk_package(path):
            return load_sdk_package(path)
        return load_phase_folder(path)
    if path.suffix == ".py":
        from phaseloom.loaders.hephaestus_sdk import load_sdk_package
        from phaseloom.loaders.python_source import load_python_workflow
        from phaseloom.loaders.sdk_reader import imports_sdk

        if imports_sdk(path) or (path.name == "phases.py" and "src.sdk" not in _text(path) and _sdk_sibling(path)):
            return load_sdk_package(path.parent, entry=path)
        return load_python_workflow(path)
    return load_yaml_workflow(path)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return ""


def _sdk_sibling(path: Path) -> bool:
    """A ``phases.py`` that only imports its package's files, which import the Hephaestus SDK."""
    from phaseloom.loaders.hephaestus_sdk import is_sdk_package

    return "import phaseloom" not in _text(path) and "from phaseloom" not in _text(path) and is_sdk_package(path.parent)


def load_yaml_workflow(path: Path) -> WorkflowDocument:
    """An OmoiOS-style file: ``phases:`` and optional ``board_columns:``; ``name`` defaults to the file name."""
    data = read_yaml(path)
    locate = yaml_locator(str(path), data)
    if not isinstance(data, dict):
        raise WorkflowInvalid([WorkflowProblem(
            "expected a mapping with a 'phases:' list at the top level", file=str(path), line=1)])
    plain, origin = normalize_omoios(plain_data(data, locate))
    plain.setdefault("name", path.stem)
    return validate_document(plain, lambda field_path: locate(remap(field_path, origin)))


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


def kept_unused_keys(document: WorkflowDocument) -> list[tuple[str, str]]:
    """``(where, key)`` for every key a file gave that phaseloom keeps but does not use.

    ``where`` is ``settings`` or a phase id; ``key`` is written as in the source file.
    """
    kept = [("settings", key) for key in (document.settings.get(KEPT) or {})]
    for phase in document.phases:
        extra = phase.configuration.model_extra or {}
        kept += [(phase.id, key) for key in (extra.get(KEPT) or {})]
    return kept


def shipped_workflow(name: str) -> Path:
    """The path of a workflow file that ships with phaseloom (``software_development``, ``research``)."""
    return Path(__file__).resolve().parent.parent / "workflows" / f"{name}.yaml"
