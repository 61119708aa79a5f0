"""OmoiOS workflow YAML as it ships, brought to phaseloom's schema before validation.

An OmoiOS file differs from phaseloom's own YAML in a few places; each has an equivalent
or is kept, never dropped:

=====================================  =====================================================
top-level ``has_result``,              ``settings`` (where :mod:`phaseloom.queue._results`
``result_criteria``, ``on_result_found``  reads them); ``continue`` means ``do_nothing``
``name`` with spaces or other          ``name`` with each run of them as ``_``; the name as
characters a name cannot hold          written is kept in ``settings.display_name``
``board_columns[].sequence_order``     the column's position (columns are sorted by it)
``board_columns[].auto_transition_to`` a column id becomes the first phase of that column
naming a column
``board_columns[].description``,       kept in ``settings.kept_unused`` (phaseloom's board
``is_terminal``, ``color_theme``       has no such field)
``expected_outputs[].validation_rule`` kept in the phase's ``configuration.kept_unused``
=====================================  =====================================================

``phaseloom workflow validate`` lists everything in ``kept_unused`` as "kept, not used by
phaseloom". The returned ``origin`` maps each moved field's new path to its path in the file,
so problems still point at the line the user wrote.
"""

from __future__ import annotations

import re
from typing import Any

KEPT = "kept_unused"
RESULT_KEYS = ("has_result", "result_criteria", "on_result_found")
COLUMN_KEPT_KEYS = ("description", "is_terminal", "color_theme")
OUTPUT_KEPT_KEYS = ("validation_rule",)
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")

Origin = dict[tuple, tuple]


def result_setting(key: str, value: Any) -> Any:
    """Hephaestus and OmoiOS say ``continue`` (or ``complete``) where phaseloom says ``do_nothing``.

    Hephaestus acts on ``stop_all`` only; any other value lets the run go on, as here.
    """
    return "do_nothing" if key == "on_result_found" and value in ("continue", "complete") else value


def normalize_omoios(data: dict[str, Any]) -> tuple[dict[str, Any], Origin]:
    """A copy of ``data`` in phaseloom's shape, and where each moved field came from."""
    data = dict(data)
    origin: Origin = {}
    settings = data.get("settings")
    settings = dict(settings) if isinstance(settings, dict) else settings
    if isinstance(settings, dict) or settings is None:
        settings = settings or {}
        _move_result_keys(data, settings, origin)
        _name(data, settings)
        kept = dict(settings.get(KEPT) or {})
        _board_columns(data, kept, origin)
        if kept:
            settings[KEPT] = kept
        if settings:
            data["settings"] = settings
    _phase_outputs(data)
    return data, origin


def _move_result_keys(data: dict[str, Any], settings: dict[str, Any], origin: Origin) -> None:
    for key in RESULT_KEYS:
        if key in data:
            settings.setdefault(key, result_setting(key, data.pop(key)))
            origin[("settings", key)] = (key,)


def _name(data: dict[str, Any], settings: dict[str, Any]) -> None:
    name = data.get("name")
    if isinstance(name, str) and name.strip() and _NAME_CHARS.search(name):
        fixed = _NAME_CHARS.sub("_", name.strip()).strip("_")
        if fixed:
            settings.setdefault("display_name", name)
            data["name"] = fixed


def _board_columns(data: dict[str, Any], kept: dict[str, Any], origin: Origin) -> None:
    columns = data.get("board_columns")
    if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        return
    order = list(range(len(columns)))
    if all(_is_int(c.get("sequence_order")) for c in columns):
        order.sort(key=lambda i: columns[i]["sequence_order"])
    first_phase = {c.get("id"): _first(c.get("phase_mapping")) for c in columns}
    phase_ids = {p.get("id") for p in data.get("phases") or [] if isinstance(p, dict)}
    result = []
    for new_index, old_index in enumerate(order):
        column = dict(columns[old_index])
        column.pop("sequence_order", None)
        column_id = column.get("id", old_index)
        for key in COLUMN_KEPT_KEYS:
            if key in column:
                kept[f"board_columns.{column_id}.{key}"] = column.pop(key)
        target = column.get("auto_transition_to")
        if isinstance(target, str) and target not in phase_ids and first_phase.get(target):
            column["auto_transition_to"] = first_phase[target]
        origin[("board_columns", new_index)] = ("board_columns", old_index)
        result.append(column)
    data["board_columns"] = result


def _phase_outputs(data: dict[str, Any]) -> None:
    phases = data.get("phases")
    if not isinstance(phases, list):
        return
    result = []
    for phase in phases:
        if isinstance(phase, dict) and isinstance(phase.get("expected_outputs"), list):
            phase = dict(phase)
            kept: dict[str, Any] = {}
            outputs = []
            for index, output in enumerate(phase["expected_outputs"]):
                if isinstance(output, dict) and any(k in output for k in OUTPUT_KEPT_KEYS):
                    output = dict(output)
                    for key in OUTPUT_KEPT_KEYS:
                        if key in output:
                            kept[f"expected_outputs[{index}].{key}"] = output.pop(key)
                outputs.append(output)
            phase["expected_outputs"] = outputs
            if kept and isinstance(phase.get("configuration", {}), dict):
                configuration = dict(phase.get("configuration") or {})
                configuration[KEPT] = {**(configuration.get(KEPT) or {}), **kept}
                phase["configuration"] = configuration
        result.append(phase)
    data["phases"] = result


def _first(value: Any) -> str | None:
    return value[0] if isinstance(value, list) and value and isinstance(value[0], str) else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def remap(path: tuple, origin: Origin) -> tuple:
    """The path in the file of a field the normalizer moved (longest matching prefix wins)."""
    for length in range(len(path), 0, -1):
        if path[:length] in origin:
            return origin[path[:length]] + path[length:]
    return path
