"""Hephaestus-style phase folders: one ``NN_phase_name.yaml`` per phase, plus ``phases_config.yaml``.

A folder such as::

    bugfix/
      01_reproduce.yaml
      02_find_root_cause.yaml
      03_fix.yaml
      phases_config.yaml      # optional

loads as a ``free_form`` workflow (any phase to any phase). The file name gives the order
(``NN``) and the phase (``PHASE_FIND_ROOT_CAUSE``, named "Find Root Cause"). Keys may be
snake_case or Title_Case; Hephaestus keys map onto the phase fields:

===================  ===============================================================
``description``      description
``Done_Definitions`` done_definitions (a string becomes a one-item list)
``Additional_Notes`` phase_prompt
``Outputs``          expected_outputs: mappings ``{type, pattern, required}`` as is; text
                     (one item per bullet line) becomes ``{type: description, pattern:
                     <text>, required: false}`` — guidance, never a required file
``Next_Steps``       next_steps_guide (text: one item per bullet line)
``Working_Directory`` working_directory
``Permissions``      permissions: ``read_only``, ``workspace_write`` (default) or ``full``
``validation``       gate: ``{criteria: [{type: check_type, target, pattern, description}]}``;
                     a list ``target`` gives one criterion per item; a list ``pattern``
                     (words) is met when the file contains any of them, a string
                     ``pattern`` is a regular expression; ``enabled: false`` gives no gate
``cli_tool``         ``configuration.runtime`` (``claude`` → ``command:claude-code``,
                     ``codex``, ``opencode``, ``aider``); another tool is kept
===================  ===============================================================

Keys phaseloom has no equivalent for are kept in the phase's ``configuration.kept_unused``
under the name written in the file, and ``phaseloom workflow validate`` lists them as "kept,
not used by phaseloom": ``validation.validator_instructions``,
``validation.criteria[N].evidence_required``, ``cli_model``, ``glm_api_token_env`` (and a
``cli_tool`` without a preset). ``on_result_found: continue`` means ``do_nothing``.

phaseloom's own ``name``, ``is_terminal``, ``allowed_transitions``, ``configuration``,
``initial_tasks`` and ``gate`` are accepted too, and ``phases_config.yaml`` may hold a
``phaseloom:`` block (mode, board columns, settings, launch template; see
:mod:`phaseloom.loaders.folder_extension`), as ``workflow export --format hephaestus`` writes. Hephaestus has no terminal phase, but every phaseloom
workflow needs one so tickets can finish: when no file sets ``is_terminal: true``, a phase
``PHASE_DONE`` becomes terminal if the folder has one (``NN_done.yaml``), otherwise a
terminal ``PHASE_DONE`` is added after the last phase.

``phases_config.yaml`` may set ``name`` (default: the folder name; characters a workflow
name cannot hold become ``_``), ``description``, and ``has_result``, ``result_criteria``,
``on_result_found``, ``enable_tickets``, ``board_config``, which are stored, with their
defaults, in the workflow's ``settings``. Every problem names the file it comes from, the
line and the key as written in that file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem
from phaseloom.loaders.folder_extension import EXTENSION_KEY, FolderExtension, apply_extension
from phaseloom.loaders.omoios import KEPT, result_setting
from phaseloom.loaders.documents import plain_data, validate_document
from phaseloom.loaders.yaml_source import Location, dotted, line_of, problems_from_validation, read_yaml, yaml_locator
from phaseloom.schemas.workflow import WorkflowDocument

CONFIG_FILE = "phases_config.yaml"
MAX_PHASE_FILES = 200
_PHASE_FILE = re.compile(r"^(\d{1,6})_([A-Za-z][A-Za-z0-9_]*)\.ya?ml$")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
# Hephaestus key (lower-cased) -> phase field. Keys already named like the field map to themselves.
_RENAMED = {
    "additional_notes": "phase_prompt",
    "outputs": "expected_outputs",
    "next_steps": "next_steps_guide",
    "validation": "gate",
}
_PHASE_KEYS = {"description", "done_definitions", "additional_notes", "outputs", "next_steps",
               "working_directory", "validation", "name", "is_terminal", "allowed_transitions",
               "configuration", "initial_tasks", "gate", "permissions"}

# Hephaestus's per-phase CLI choice -> phaseloom runtime preset; other tools (droid, swarm) are kept.
CLI_PRESETS = {"claude": "command:claude-code", "claude-code": "command:claude-code",
               "codex": "command:codex", "opencode": "command:opencode", "aider": "command:aider"}
# Hephaestus phase keys phaseloom has no equivalent for: kept in configuration.kept_unused.
_KEPT_KEYS = {"cli_model", "glm_api_token_env"}
DONE_PHASE = "PHASE_DONE"


class _Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    check_type: str = Field(min_length=1)
    target: Any = None
    pattern: str | list[str] | None = None
    evidence_required: bool | None = None


class _Validation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    criteria: list[_Criterion] = Field(default_factory=list)
    validator_instructions: str | None = None


class PhasesConfig(BaseModel):
    """The optional ``phases_config.yaml`` of a phase folder."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str = ""
    has_result: bool = False
    result_criteria: str = ""
    # Hephaestus acts on stop_all only; its examples also say continue and complete (read as do_nothing)
    on_result_found: Literal["stop_all", "do_nothing", "continue", "complete"] = "do_nothing"
    enable_tickets: bool = False
    board_config: dict[str, Any] = Field(default_factory=dict)
    phaseloom: FolderExtension | None = None


class _PhaseFile:
    """One phase file: its parsed YAML, and which original key each phase field came from."""

    def __init__(self, path: Path, order: int, stem: str) -> None:
        self.path = path
        self.order = order
        self.stem = stem
        self.raw: Any = None
        self.key_of: dict[str, str] = {}
        # gate criterion index -> (criterion index in the file, index in its target list or None)
        self.criterion_source: list[tuple[int, int | None]] = []
        # keys as written in the file -> value, for what phaseloom keeps but does not use
        self.kept: dict[str, Any] = {}

    @property
    def phase_id(self) -> str:
        return f"PHASE_{self.stem.upper()}"

    def line(self, original: tuple) -> int | None:
        """The line of a key path as written in the source (a YAML file here)."""
        return line_of(self.raw, original)

    def locate(self, rest: tuple) -> Location:
        """Map a path inside the phase (``("done_definitions", 0)``) to this file's line and key."""
        if rest and rest[0] in self.key_of:
            original = (self.key_of[rest[0]],) + self._inside(rest[0], rest[1:])
            return str(self.path), self.line(original), dotted(original)
        if not rest or rest[0] in ("id", "sequence_order", "name"):
            return str(self.path), None, "file name"
        return str(self.path), None, dotted(rest)

    def _inside(self, field: str, rest: tuple) -> tuple:
        """The path inside a converted block as written in the file."""
        if field != "gate" or len(rest) < 2 or rest[0] != "criteria" or not isinstance(rest[1], int):
            return rest
        if rest[1] >= len(self.criterion_source):
            return rest[:2]
        index, target_index = self.criterion_source[rest[1]]
        tail = tuple("check_type" if part == "type" else part for part in rest[2:])
        if tail[:1] == ("target",) and target_index is not None:
            tail = ("target", target_index)
        return ("criteria", index) + tail


def load_phase_folder(folder: Path) -> WorkflowDocument:
    """Load a Hephaestus phase folder; raises :class:`WorkflowInvalid` naming file, line and key."""
    phase_files, problems = _find_phase_files(folder)
    config, config_locate = _read_config(folder / CONFIG_FILE, problems)
    phases = []
    for phase_file in phase_files:
        try:
            phases.append(_phase_data(phase_file))
        except WorkflowInvalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise WorkflowInvalid(problems)
    return folder_document(folder, config, config_locate, phases, phase_files)


def folder_document(folder: Path, config: PhasesConfig, config_locate, phases: list[dict[str, Any]],
                    phase_files: list[_PhaseFile], launch_template: dict[str, Any] | None = None,
                    template_locate=None) -> WorkflowDocument:
    """The free-form workflow of a Hephaestus folder or package, validated; problems located in its files."""
    added_done = _ensure_terminal(phases, phase_files)
    name = config.name or folder.resolve().name
    document = {
        "name": re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip("_") or "workflow",
        "description": config.description,
        "mode": "free_form",
        "phases": phases,
        "settings": {key: result_setting(key, value)
                     for key, value in config.model_dump(exclude={"name", "description", EXTENSION_KEY}).items()},
    }
    extension = config.phaseloom
    extended = apply_extension(document, extension) if extension else set()
    if launch_template is not None:
        document["launch_template"] = launch_template

    def locate(path: tuple) -> Location:
        if path[:1] == ("phases",) and len(path) > 1 and isinstance(path[1], int):
            if path[1] < len(phase_files):
                return phase_files[path[1]].locate(path[2:])
            if added_done:
                return str(folder), None, f"{DONE_PHASE} (added by the loader)"
        if path[:1] == ("launch_template",) and template_locate is not None:
            return template_locate(path)
        if path[:1] and path[0] in extended:
            return config_locate((EXTENSION_KEY,) + path)
        if path[:1] == ("settings",):
            return config_locate(path[1:])
        if path[:1] in (("name",), ("description",)):
            return config_locate(path)
        return str(folder), None, dotted(path)

    return validate_document(document, locate)


def has_phase_files(folder: Path) -> bool:
    """Whether ``folder`` holds a phase file (``NN_phase_name.yaml``)."""
    return any(_PHASE_FILE.match(path.name) for path in folder.iterdir() if path.is_file())


def _find_phase_files(folder: Path) -> tuple[list[_PhaseFile], list[WorkflowProblem]]:
    problems: list[WorkflowProblem] = []
    found: list[_PhaseFile] = []
    for path in sorted(folder.iterdir()):
        if (path.name == CONFIG_FILE or path.name.startswith(".") or path.suffix not in (".yaml", ".yml")
                or not path.is_file()):
            continue
        match = _PHASE_FILE.match(path.name)
        if match is None:
            problems.append(WorkflowProblem(
                "not a phase file: expected a name like 01_phase_name.yaml", field="file name", file=str(path)))
            continue
        found.append(_PhaseFile(path, int(match.group(1)), match.group(2)))
    if not found and not problems:
        problems.append(WorkflowProblem("no phase files (NN_phase_name.yaml) in this folder", file=str(folder)))
    if len(found) > MAX_PHASE_FILES:
        problems.append(WorkflowProblem(f"{len(found)} phase files; at most {MAX_PHASE_FILES}", file=str(folder)))
        return [], problems
    by_order: dict[int, _PhaseFile] = {}
    for phase_file in found:
        first = by_order.setdefault(phase_file.order, phase_file)
        if first is not phase_file:
            problems.append(WorkflowProblem(
                f"phase number {phase_file.order} is also used by {first.path.name}",
                field="file name", file=str(phase_file.path)))
    found.sort(key=lambda f: (f.order, f.stem))
    return found, problems


def _read_config(path: Path, problems: list[WorkflowProblem]) -> tuple[PhasesConfig, Any]:
    if not path.is_file():
        return PhasesConfig(), lambda p: (str(path.parent), None, dotted(p))
    try:
        raw = read_yaml(path)
    except WorkflowInvalid as exc:
        problems.extend(exc.problems)
        return PhasesConfig(), yaml_locator(str(path), None)
    locate = yaml_locator(str(path), raw)
    try:
        data = plain_data({} if raw is None else raw, locate)
        if not isinstance(data, dict):
            raise WorkflowInvalid([WorkflowProblem("expected a mapping of settings", file=str(path), line=1)])
        return PhasesConfig.model_validate(data), locate
    except WorkflowInvalid as exc:
        problems.extend(exc.problems)
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc, locate))
    return PhasesConfig(), locate


def _phase_data(phase_file: _PhaseFile) -> dict[str, Any]:
    """The phase as a PhaseSpec-shaped dict; records where each field came from."""
    raw = read_yaml(phase_file.path)
    phase_file.raw = raw
    data = plain_data({} if raw is None else raw, yaml_locator(str(phase_file.path), raw))
    if not isinstance(data, dict):
        raise WorkflowInvalid([WorkflowProblem(
            "expected a mapping of phase keys (description, Done_Definitions, …)", file=str(phase_file.path), line=1)])
    return phase_from_keys(phase_file, data)


def phase_from_keys(phase_file: _PhaseFile, data: dict[str, Any]) -> dict[str, Any]:
    """Hephaestus phase keys (a YAML file's or a ``Phase(...)`` call's) as a PhaseSpec-shaped dict."""
    def locate(path: tuple) -> Location:
        return str(phase_file.path), phase_file.line(path), dotted(path)

    phase: dict[str, Any] = {"id": phase_file.phase_id, "sequence_order": phase_file.order,
                             "name": phase_file.stem.replace("_", " ").title()}
    problems = []
    for key, value in data.items():
        normal = key.lower()
        field = _RENAMED.get(normal, normal)
        if normal in _KEPT_KEYS or normal == "cli_tool":
            phase_file.kept[key] = value
        elif normal not in _PHASE_KEYS:
            problems.append(WorkflowProblem("unknown field", field=key, file=str(phase_file.path),
                                            line=phase_file.line((key,))))
        elif field in phase_file.key_of:
            problems.append(WorkflowProblem(f"given twice (also as {phase_file.key_of[field]!r})", field=key,
                                            file=str(phase_file.path), line=phase_file.line((key,))))
        else:
            phase_file.key_of[field] = key
            phase[field] = _convert(field, value, key, locate, phase_file)
    if problems:
        raise WorkflowInvalid(problems)
    _add_runtime_and_kept(phase, phase_file)
    return phase


def _add_runtime_and_kept(phase: dict[str, Any], phase_file: _PhaseFile) -> None:
    """``cli_tool`` becomes the phase's runtime when phaseloom has a preset for it; the rest is kept."""
    configuration = phase.get("configuration", {})
    if not isinstance(configuration, dict):
        return  # the schema names the bad configuration
    configuration = dict(configuration)
    kept = dict(phase_file.kept)
    for key in [k for k in kept if k.lower() == "cli_tool"]:
        preset = CLI_PRESETS.get(str(kept[key]).lower())
        if preset and "runtime" not in configuration:
            configuration["runtime"] = preset
            del kept[key]
    if kept:
        configuration[KEPT] = {**(configuration.get(KEPT) or {}), **kept}
    if configuration:
        phase["configuration"] = configuration


def _convert(field: str, value: Any, key: str, locate, phase_file: _PhaseFile) -> Any:
    if field == "expected_outputs":
        items = _lines(value) if isinstance(value, str) else value
        if isinstance(items, list):
            return [{"type": "description", "pattern": item, "required": False} if isinstance(item, str) else item
                    for item in items]
        return items
    if field == "next_steps_guide" and isinstance(value, str):
        return _lines(value)
    if field == "gate" and key.lower() == "validation":
        return _gate(value, key, locate, phase_file)
    return value


def _gate(value: Any, key: str, locate, phase_file: _PhaseFile) -> dict[str, Any]:
    """Hephaestus ``validation`` as a gate; a list ``target`` gives one criterion per item."""
    try:
        validation = _Validation.model_validate(value)
    except ValidationError as exc:
        raise WorkflowInvalid(problems_from_validation(exc, lambda p: locate((key,) + p))) from None
    if validation.validator_instructions is not None:
        phase_file.kept[f"{key}.validator_instructions"] = validation.validator_instructions
    if not validation.enabled:
        return {}
    criteria = []
    for index, criterion in enumerate(validation.criteria):
        if criterion.evidence_required is not None:
            phase_file.kept[f"{key}.criteria[{index}].evidence_required"] = criterion.evidence_required
        targets = criterion.target if isinstance(criterion.target, list) else [criterion.target]
        for target_index, target in enumerate(targets):
            item = {"type": criterion.check_type, "description": criterion.description}
            if target is not None:
                item["target"] = target
            if criterion.pattern is not None:
                item["pattern"] = _one_pattern(criterion.pattern)
            criteria.append(item)
            phase_file.criterion_source.append((index, target_index if isinstance(criterion.target, list) else None))
    return {"criteria": criteria}


def _one_pattern(pattern: str | list[str]) -> str:
    """A list of words is met when the file contains any of them; a string is a regular expression."""
    if isinstance(pattern, str):
        return pattern
    return "|".join(re.escape(word) for word in pattern)


def _lines(text: str) -> list[str]:
    """A bullet list becomes one item per bullet; plain prose stays one item."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if lines and all(_BULLET.match(line) for line in lines):
        return [_BULLET.sub("", line).strip() for line in lines]
    return [text.strip()] if text.strip() else []


def _ensure_terminal(phases: list[dict[str, Any]], phase_files: list[_PhaseFile]) -> bool:
    """Give the workflow a terminal phase (see the module docstring); True when one was added."""
    if any(p.get("is_terminal") is True for p in phases):
        return False
    for phase in phases:
        if phase["id"] == DONE_PHASE and "is_terminal" not in phase and not phase.get("allowed_transitions"):
            phase["is_terminal"] = True
            return False
    if any(p["id"] == DONE_PHASE for p in phases):
        return False  # its own settings contradict being terminal: let the lint rules say so
    last = max((f.order for f in phase_files), default=0)
    phases.append({"id": DONE_PHASE, "name": "Done", "sequence_order": last + 1, "is_terminal": True,
                   "description": "Work is finished. Added by phaseloom: Hephaestus folders have no final phase."})
    return True
