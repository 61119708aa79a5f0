"""Hephaestus workflows written as Python packages (``from src.sdk.models import Phase``).

A package such as::

    bug_fix/
      __init__.py
      phases.py            # BUG_FIX_PHASES = [PHASE_1, PHASE_2], imports the rest, LaunchTemplate(...)
      board_config.py      # BUG_FIX_WORKFLOW_CONFIG = WorkflowConfig(...)
      phase_1_reproduce.py # PHASE_1 = Phase(id=1, name="reproduce", ...)

loads as a ``free_form`` workflow, read by :mod:`phaseloom.loaders.sdk_reader` without running
any of it. ``phases.py`` (or the ``.py`` file given) is the entry: its list of ``Phase`` objects
is the workflow, in the order of their ``id``; its ``WorkflowConfig`` gives the settings and its
``LaunchTemplate`` the launch form. A ``WorkflowDefinition(...)`` there wins and gives the name
and description. A package without ``phases.py`` is read file by file.

A ``Phase`` maps like a phase file of a Hephaestus folder (:mod:`phaseloom.loaders.phase_folder`):
``id`` is the order, ``name`` the phase (``PHASE_<NAME>``); ``additional_notes``, ``outputs``,
``next_steps``, ``validation`` (a ``ValidationCriteria``), ``cli_tool`` and the keys phaseloom
keeps unused are read the same way. ``LaunchParameter`` type ``select`` is read as ``dropdown``;
``phase_1_task_prompt`` becomes ``first_task_prompt``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem
from phaseloom.loaders.phase_folder import (
    PhasesConfig,
    _PhaseFile,
    folder_document,
    phase_from_keys,
)
from phaseloom.loaders.sdk_reader import PackageReader, SdkObject, imports_sdk
from phaseloom.loaders.yaml_source import Location, dotted, problems_from_validation
from phaseloom.schemas.workflow import WorkflowDocument

ENTRY_FILE = "phases.py"
_NAME = re.compile(r"[^A-Za-z0-9_]+")


class _SdkPhase(_PhaseFile):
    """A ``Phase(...)`` call, located by the lines of its arguments."""

    def __init__(self, call: SdkObject, order: int, stem: str) -> None:
        super().__init__(call.file, order, stem)
        self.call = call

    def line(self, original: tuple) -> int | None:
        return self.call.line_of(original)

    def locate(self, rest: tuple) -> Location:
        if not rest or rest[0] in ("id", "sequence_order", "name"):
            key = "id" if rest[:1] in (("id",), ("sequence_order",)) else "name"
            return str(self.path), self.call.line_of((key,)), key
        return super().locate(rest)


def is_sdk_package(folder: Path) -> bool:
    """A folder of Python files that import the Hephaestus SDK (and no YAML phase files)."""
    return any(imports_sdk(path) for path in sorted(folder.glob("*.py"))[:200])


def load_sdk_package(folder: Path, entry: Path | None = None) -> WorkflowDocument:
    """Read a Hephaestus SDK package; raises :class:`WorkflowInvalid` naming file, line and argument."""
    folder = folder.resolve()
    reader = PackageReader(folder)
    entry = entry or (folder / ENTRY_FILE if (folder / ENTRY_FILE).is_file() else None)
    files = [entry] if entry else [p for p in sorted(folder.glob("*.py")) if imports_sdk(p)]
    objects, skipped = _objects(reader, files, strict=entry is not None)
    where = str(entry or folder)
    definition = _one(objects, "WorkflowDefinition", where, required=False)
    if definition is not None:
        phase_calls = _phase_list(definition.fields.get("phases"), definition)
        config_call, template_call = definition.fields.get("config"), definition.fields.get("launch_template")
    else:
        try:
            phase_calls = _phases_of(objects, where, reader.unresolved)
        except WorkflowInvalid as exc:
            raise WorkflowInvalid(exc.problems + skipped) from None
        config_call = _one(objects, "WorkflowConfig", where, required=False)
        template_call = _one(objects, "LaunchTemplate", where, required=False)
    phase_files, phases = _phases(phase_calls)
    config, config_locate = _config(config_call, definition, folder)
    template, template_locate = _template(template_call)
    return folder_document(folder, config, config_locate, phases, phase_files,
                           launch_template=template, template_locate=template_locate)


def _objects(reader: PackageReader, files: list[Path], *,
             strict: bool) -> tuple[list[tuple[str, Any]], list[WorkflowProblem]]:
    """``(name, value)`` of every module-level name of ``files`` that may be part of the workflow.

    Reading the entry file (``strict``), every unreadable name is a problem. Scanning a package
    file by file, an unreadable list or import outside an SDK call (a test script's ``[foo()]``)
    is only reported if the workflow cannot be assembled without it: the second list returned.
    """
    found: list[tuple[str, Any]] = []
    problems: list[WorkflowProblem] = []
    skipped: list[WorkflowProblem] = []
    for path in files:
        try:
            module = reader.module(path)
        except WorkflowInvalid as exc:
            problems += exc.problems
            continue
        for name in module.workflow_names():
            try:
                found.append((name, reader.value(path, name)))
            except WorkflowInvalid as exc:
                (problems if strict or module.is_sdk_call(name) else skipped).extend(exc.problems)
    if problems:
        raise WorkflowInvalid(_unique(problems))
    return found, _unique(skipped)


def _unique(problems: list[WorkflowProblem]) -> list[WorkflowProblem]:
    """One problem per place: a name used by several others is reported once."""
    seen: set[tuple] = set()
    result = []
    for problem in problems:
        key = (problem.file, problem.line, problem.column, problem.field, problem.message)
        if key not in seen:
            seen.add(key)
            result.append(problem)
    return result


def _distinct(objects: list[tuple[str, Any]], kind: str) -> list[tuple[str, SdkObject]]:
    seen: set[int] = set()
    result = []
    for name, value in objects:
        if isinstance(value, SdkObject) and value.kind == kind and id(value) not in seen:
            seen.add(id(value))
            result.append((name, value))
    return result


def _one(objects: list[tuple[str, Any]], kind: str, where: str, *, required: bool) -> SdkObject | None:
    found = _distinct(objects, kind)
    if len(found) > 1:
        listed = ", ".join(f"{name} ({value.file.name}:{value.line})" for name, value in found)
        raise WorkflowInvalid([WorkflowProblem(f"more than one {kind}: {listed}; keep one", file=where)])
    return found[0][1] if found else None


def _phases_of(objects: list[tuple[str, Any]], where: str, unresolved: list[str]) -> list[SdkObject]:
    """The package's list of phases; lacking one, every ``Phase(...)`` it defines."""
    lists: dict[int, tuple[str, list]] = {}
    for name, value in objects:
        if isinstance(value, list) and value and all(isinstance(v, SdkObject) and v.kind == "Phase" for v in value):
            lists.setdefault(id(value), (name, value))
    if len(lists) > 1:
        names = ", ".join(name for name, _ in lists.values())
        raise WorkflowInvalid([WorkflowProblem(f"more than one list of phases ({names}); keep one", file=where)])
    if lists:
        return next(iter(lists.values()))[1]
    phases = [value for _, value in _distinct(objects, "Phase")]
    if not phases:
        hint = f"; these imports name no file of this package: {', '.join(unresolved)}" if unresolved else ""
        raise WorkflowInvalid([WorkflowProblem(
            "no phases: expected a list of src.sdk.models Phase(...) objects (as in phases.py)" + hint, file=where)])
    return phases


def _phase_list(value: Any, definition: SdkObject) -> list[SdkObject]:
    if isinstance(value, list) and value and all(isinstance(v, SdkObject) and v.kind == "Phase" for v in value):
        return value
    raise WorkflowInvalid([WorkflowProblem("expected a non-empty list of Phase(...) objects", field="phases",
                                           file=str(definition.file), line=definition.line_of(("phases",)))])


def _phases(calls: list[SdkObject]) -> tuple[list[_SdkPhase], list[dict[str, Any]]]:
    problems: list[WorkflowProblem] = []
    phase_files: list[_SdkPhase] = []
    by_order: dict[int, _SdkPhase] = {}
    for call in calls:
        order, name = call.fields.get("id"), call.fields.get("name")
        if isinstance(order, bool) or not isinstance(order, int):
            problems.append(_at(call, "id", f"expected the phase number (an integer), not {order!r}"))
            continue
        if not isinstance(name, str) or not _NAME.sub("_", name).strip("_"):
            problems.append(_at(call, "name", f"expected the phase name (text), not {name!r}"))
            continue
        stem = _NAME.sub("_", name).strip("_")
        phase_file = _SdkPhase(call, order, stem if stem[0].isalpha() else f"p_{stem}")
        first = by_order.setdefault(order, phase_file)
        if first is not phase_file:
            problems.append(_at(call, "id", f"phase id {order} is also used by {first.call.file.name}:{first.call.line}"))
            continue
        phase_files.append(phase_file)
    phase_files.sort(key=lambda f: f.order)
    phases = []
    for phase_file in phase_files:
        data = {key: _plain(value) for key, value in phase_file.call.fields.items()
                if key not in ("id", "name") and value is not None}
        try:
            phases.append(phase_from_keys(phase_file, data))
        except WorkflowInvalid as exc:
            problems += exc.problems
    if problems:
        raise WorkflowInvalid(problems)
    return phase_files, phases


def _config(call: Any, definition: SdkObject | None, folder: Path) -> tuple[PhasesConfig, Any]:
    fields = dict(call.fields) if isinstance(call, SdkObject) else {}
    fields = {key: value for key, value in fields.items() if value is not None}
    if definition is not None:
        for key in ("name", "description"):
            if isinstance(definition.fields.get(key), str):
                fields[key] = definition.fields[key]
    source = call if isinstance(call, SdkObject) else definition

    def locate(path: tuple) -> Location:
        if source is None:
            return str(folder), None, dotted(path)
        owner = definition if path[:1] in (("name",), ("description",)) and definition is not None else source
        return str(owner.file), owner.line_of(path), dotted(path)

    try:
        return PhasesConfig.model_validate(fields), locate
    except ValidationError as exc:
        raise WorkflowInvalid(problems_from_validation(exc, locate)) from None


def _template(call: Any) -> tuple[dict[str, Any] | None, Any]:
    """The ``LaunchTemplate`` as phaseloom's ``launch_template`` setting, and how to locate its problems."""
    if not isinstance(call, SdkObject):
        return None, None
    fields = _plain(call)
    template: dict[str, Any] = {k: v for k, v in fields.items() if k != "phase_1_task_prompt"}
    if "phase_1_task_prompt" in fields:
        template["first_task_prompt"] = fields["phase_1_task_prompt"]
    parameters = template.get("parameters")
    if isinstance(parameters, list):
        template["parameters"] = [_parameter(p) for p in parameters]

    def locate(path: tuple) -> Location:
        inside = tuple("phase_1_task_prompt" if part == "first_task_prompt" else part for part in path[1:])
        return str(call.file), call.line_of(inside), dotted(("LaunchTemplate",) + inside)

    return template, locate


def _parameter(value: Any) -> Any:
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if not (k in ("default", "options") and v in (None, []))}
        if value.get("type") == "select":  # Hephaestus's documentation-generation example says select
            value["type"] = "dropdown"
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, SdkObject):
        return {key: _plain(v) for key, v in value.fields.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    return value


def _at(call: SdkObject, key: str, message: str) -> WorkflowProblem:
    return WorkflowProblem(message, field=key, file=str(call.file), line=call.line_of((key,)))
