"""Dispatch a workflow path to its loader and validate the result with file/line locations."""

from __future__ import annotations

from pathlib import Path

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem
from phaseloom.loaders.documents import plain_data, validate_document
from phaseloom.loaders.omoios import KEPT, normalize_omoios, remap
from phaseloom.loaders.yaml_source import read_yaml, yaml_locator
from phaseloom.schemas.workflow import WorkflowDocument


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
