"""Write a workflow back out: phaseloom YAML, OmoiOS YAML, or a Hephaestus phase folder.

Each format is written so that loading it gives back the same workflow (``load(export(w)) ==
w``, tested as a property). What a format has no key for travels in the place its loader
reads it back from: OmoiOS's board-column and output keys phaseloom keeps unused go back where
they came from; a Hephaestus folder gets the standard keys Hephaestus reads (``description``,
``Done_Definitions``, ``Additional_Notes``, ``Outputs``, ``Next_Steps``, ``validation``,
``cli_tool``, ``cli_model``…) and, in ``phases_config.yaml``, a ``phaseloom:`` block with what
Hephaestus has no key for (the mode, board columns, every setting, the launch template).
"""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from phaseloom.domain import phases as d
from phaseloom.domain.errors import InvalidInput
from phaseloom.domain.permissions import DEFAULT_PERMISSIONS
from phaseloom.loaders.omoios import COLUMN_KEPT_KEYS, KEPT, RESULT_KEYS
from phaseloom.loaders.phase_folder import CONFIG_FILE, EXTENSION_KEY

FORMATS = ("phaseloom", "omoios", "hephaestus")
_FOLDER_SETTINGS = ("has_result", "result_criteria", "on_result_found", "enable_tickets", "board_config")
_RUNTIME_TO_CLI = {"command:claude-code": "claude", "command:codex": "codex", "command:opencode": "opencode",
                   "command:aider": "aider"}
_STEM = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def document_data(workflow: d.Workflow) -> dict[str, Any]:
    """The workflow as a phaseloom document (a plain dict; ``launch_template`` at the top level)."""
    settings = dict(workflow.settings)
    template = settings.pop("launch_template", None)
    data: dict[str, Any] = {"name": workflow.name}
    if workflow.description:
        data["description"] = workflow.description
    if workflow.mode is not d.WorkflowMode.STRUCTURED:
        data["mode"] = workflow.mode.value
    data["phases"] = [_phase(p) for p in workflow.ordered_phases]
    if workflow.board_columns:
        data["board_columns"] = [_column(c) for c in sorted(workflow.board_columns, key=lambda c: c.position)]
    if settings:
        data["settings"] = settings
    if template is not None:
        data["launch_template"] = template
    return data


def _phase(phase: d.Phase) -> dict[str, Any]:
    data: dict[str, Any] = {"id": phase.id, "name": phase.name, "sequence_order": phase.sequence_order}
    optional = {
        "description": phase.description, "allowed_transitions": list(phase.allowed_transitions),
        "is_terminal": phase.is_terminal, "done_definitions": list(phase.done_definitions),
        "expected_outputs": [{"type": o.type, "pattern": o.pattern, "required": o.required}
                             for o in phase.expected_outputs],
        "phase_prompt": phase.phase_prompt, "next_steps_guide": list(phase.next_steps_guide),
        "configuration": _configuration(phase.configuration), "gate": phase.gate.as_stored(),
        "initial_tasks": list(phase.initial_tasks), "working_directory": phase.working_directory,
        "permissions": phase.permissions.value if phase.permissions is not DEFAULT_PERMISSIONS else "",
    }
    data.update({key: value for key, value in optional.items() if value})
    return data


def _configuration(cfg: d.PhaseConfiguration) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if cfg.timeout_seconds != 1800.0:
        data["timeout_seconds"] = cfg.timeout_seconds
    if cfg.max_retries != 3:
        data["max_retries"] = cfg.max_retries
    if cfg.retry_backoff != d.RetryBackoff():
        data["retry_backoff"] = {"base_seconds": cfg.retry_backoff.base_seconds,
                                 "cap_seconds": cfg.retry_backoff.cap_seconds}
    return {**data, **cfg.extra}


def _column(column: d.BoardColumn) -> dict[str, Any]:
    data: dict[str, Any] = {"id": column.id, "name": column.name, "phase_mapping": list(column.phase_mapping)}
    if column.wip_limit is not None:
        data["wip_limit"] = column.wip_limit
    if column.auto_transition_to is not None:
        data["auto_transition_to"] = column.auto_transition_to
    return data


# -- the formats ------------------------------------------------------------------------
def export_phaseloom(workflow: d.Workflow) -> str:
    return yaml_text(document_data(workflow))


def export_omoios(workflow: d.Workflow) -> str:
    """OmoiOS's shape: result keys at the top level, kept column and output keys where they were."""
    data = document_data(workflow)
    settings = dict(data.pop("settings", {}))
    kept = dict(settings.pop(KEPT, {}) or {})
    out: dict[str, Any] = {"name": settings.pop("display_name", data.pop("name"))}
    data.pop("name", None)
    for key in RESULT_KEYS:
        if key in settings:
            out[key] = settings.pop(key)
    for column in data.get("board_columns", []):
        for key in COLUMN_KEPT_KEYS:
            value = kept.pop(f"board_columns.{column['id']}.{key}", _MISSING)
            if value is not _MISSING:
                column[key] = value
    for phase in data["phases"]:
        _outputs_back(phase)
    if kept:
        settings[KEPT] = kept
    out.update(data)
    if settings:
        out["settings"] = settings
    return yaml_text(out)


_MISSING = object()


def _outputs_back(phase: dict[str, Any]) -> None:
    configuration = phase.get("configuration")
    kept = dict((configuration or {}).get(KEPT) or {})
    if not kept:
        return
    for index, output in enumerate(phase.get("expected_outputs", [])):
        value = kept.pop(f"expected_outputs[{index}].validation_rule", _MISSING)
        if value is not _MISSING:
            output["validation_rule"] = value
    configuration = dict(configuration)
    if kept:
        configuration[KEPT] = kept
    else:
        configuration.pop(KEPT)
    if configuration:
        phase["configuration"] = configuration
    else:
        phase.pop("configuration")


def export_hephaestus(workflow: d.Workflow) -> dict[str, str]:
    """A Hephaestus phase folder: ``{file name: text}``; refuses phases a folder cannot name."""
    data = document_data(workflow)
    files: dict[str, str] = {}
    orders: dict[int, str] = {}
    width = max(2, len(str(max(p["sequence_order"] for p in data["phases"]))))
    for phase in data["phases"]:
        stem, order = _file_stem(phase), phase["sequence_order"]
        if order in orders:
            raise InvalidInput(f"phases {orders[order]} and {phase['id']} share sequence_order {order}; a "
                               "Hephaestus folder numbers each phase file differently")
        orders[order] = phase["id"]
        files[f"{order:0{width}d}_{stem}.yaml"] = yaml_text(_hephaestus_phase(phase))
    files[CONFIG_FILE] = yaml_text(_phases_config(data))
    return files


def _file_stem(phase: dict[str, Any]) -> str:
    stem = phase["id"].removeprefix("PHASE_")
    if not phase["id"].startswith("PHASE_") or not _STEM.match(stem) or stem != stem.upper():
        raise InvalidInput(f"phase {phase['id']!r} cannot be a Hephaestus phase file: the folder format names "
                           "phases PHASE_<NAME> (capitals, digits and _) after their file")
    if phase["sequence_order"] < 0:
        raise InvalidInput(f"phase {phase['id']!r} has sequence_order {phase['sequence_order']}; phase files "
                           "are numbered from 0")
    return stem.lower()


def _hephaestus_phase(phase: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": phase["name"]}
    renamed = {"description": "description", "done_definitions": "Done_Definitions",
               "phase_prompt": "Additional_Notes", "next_steps_guide": "Next_Steps",
               "working_directory": "working_directory", "is_terminal": "is_terminal",
               "allowed_transitions": "allowed_transitions", "initial_tasks": "initial_tasks",
               "permissions": "permissions"}
    for key, written in renamed.items():
        if key in phase:
            out[written] = phase[key]
    if "expected_outputs" in phase:
        out["Outputs"] = [o["pattern"] if (o["type"], o["required"]) == ("description", False) else o
                          for o in phase["expected_outputs"]]
    configuration = dict(phase.get("configuration", {}))
    kept = dict(configuration.pop(KEPT, {}) or {})
    for key in [k for k in kept if "." not in k and "[" not in k]:
        out[key] = kept.pop(key)  # cli_model, glm_api_token_env: Hephaestus keys, read back as kept
    runtime = configuration.get("runtime")
    if runtime in _RUNTIME_TO_CLI and not any(k.lower() == "cli_tool" for k in out):
        out["cli_tool"] = _RUNTIME_TO_CLI[configuration.pop("runtime")]
    if kept:
        configuration[KEPT] = kept
    if configuration:
        out["configuration"] = configuration
    if phase.get("gate"):
        validation = _as_validation(phase["gate"])
        out["validation" if validation else "gate"] = validation or phase["gate"]
    return out


def _as_validation(gate: dict[str, Any]) -> dict[str, Any] | None:
    """A gate of plain criteria as Hephaestus's ``validation`` block; None when it says more than that."""
    if set(gate) != {"criteria"} or not isinstance(gate["criteria"], list):
        return None
    criteria = []
    for item in gate["criteria"]:
        if not isinstance(item, dict) or not set(item) <= {"type", "target", "pattern", "description"} or any(
                not isinstance(item.get(key, ""), str) for key in ("target", "pattern", "description")):
            return None
        criterion = {"description": item.get("description", ""), "check_type": item["type"]}
        criterion.update({key: item[key] for key in ("target", "pattern") if key in item})
        criteria.append(criterion)
    return {"enabled": True, "criteria": criteria}


def _phases_config(data: dict[str, Any]) -> dict[str, Any]:
    settings = data.get("settings", {})
    out: dict[str, Any] = {"name": data["name"]}
    if data.get("description"):
        out["description"] = data["description"]
    out.update({key: settings[key] for key in _FOLDER_SETTINGS if key in settings})
    extension = {"mode": data.get("mode", d.WorkflowMode.STRUCTURED.value), "settings": settings}
    for key in ("board_columns", "launch_template"):
        if key in data:
            extension[key] = data[key]
    out[EXTENSION_KEY] = extension
    return out


def yaml_text(data: Any) -> str:
    """YAML that reads back to ``data``: multi-line strings as literal blocks when that is exact."""
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.allow_unicode = True
    stream = io.StringIO()
    yaml.dump(_blocks(data), stream)
    return stream.getvalue()


def _blocks(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _blocks(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_blocks(v) for v in value]
    if isinstance(value, str) and "\n" in value and _literal_safe(value):
        return LiteralScalarString(value)
    return value


def _literal_safe(text: str) -> bool:
    """A literal block keeps text exactly unless it has trailing spaces, tabs or odd line ends."""
    lines = text.split("\n")
    return (not any(line != line.rstrip(" \t") for line in lines) and "\r" not in text and "\t" not in text
            and not text.startswith((" ", "\n")) and not text.endswith("\n\n") and text.strip() != ""
            and all(ch.isprintable() or ch == "\n" for ch in text))
