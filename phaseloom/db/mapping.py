"""Translate between table rows and the pure domain values."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phaseloom.domain import phases as d
from phaseloom.domain.gate_definition import Gate
from phaseloom.domain.permissions import DEFAULT_PERMISSIONS, Permissions

if TYPE_CHECKING:  # any object with these rows' attributes will do (the CLI's quick reads pass plain ones)
    from phaseloom.db.models import BoardColumnRow, PhaseRow, WorkflowRow


def phase_from_row(row: PhaseRow) -> d.Phase:
    cfg = dict(row.configuration or {})
    backoff = cfg.pop("retry_backoff", {}) or {}
    return d.Phase(
        id=row.id,
        name=row.name,
        sequence_order=row.sequence_order,
        description=row.description,
        allowed_transitions=tuple(row.allowed_transitions or ()),
        is_terminal=row.is_terminal,
        done_definitions=tuple(row.done_definitions or ()),
        expected_outputs=tuple(d.ExpectedOutput(**o) for o in row.expected_outputs or ()),
        phase_prompt=row.phase_prompt,
        next_steps_guide=tuple(row.next_steps_guide or ()),
        configuration=d.PhaseConfiguration(
            timeout_seconds=float(cfg.pop("timeout_seconds", 1800.0)),
            max_retries=int(cfg.pop("max_retries", 3)),
            retry_backoff=d.RetryBackoff(**backoff),
            extra=cfg,
        ),
        gate=Gate.from_stored(row.gate),  # stored by Gate.as_stored, validated when the workflow was loaded
        initial_tasks=tuple(row.initial_tasks or ()),
        working_directory=row.working_directory,
        permissions=Permissions(row.permissions or DEFAULT_PERMISSIONS),
    )


def phase_to_row_values(phase: d.Phase) -> dict:
    cfg = phase.configuration
    return dict(
        id=phase.id,
        name=phase.name,
        description=phase.description,
        sequence_order=phase.sequence_order,
        allowed_transitions=list(phase.allowed_transitions),
        is_terminal=phase.is_terminal,
        done_definitions=list(phase.done_definitions),
        expected_outputs=[
            {"type": o.type, "pattern": o.pattern, "required": o.required} for o in phase.expected_outputs
        ],
        phase_prompt=phase.phase_prompt,
        next_steps_guide=list(phase.next_steps_guide),
        configuration={
            **cfg.extra,
            "timeout_seconds": cfg.timeout_seconds,
            "max_retries": cfg.max_retries,
            "retry_backoff": {
                "base_seconds": cfg.retry_backoff.base_seconds,
                "cap_seconds": cfg.retry_backoff.cap_seconds,
            },
        },
        gate=phase.gate.as_stored(),
        initial_tasks=list(phase.initial_tasks),
        working_directory=phase.working_directory,
        permissions=phase.permissions.value,
    )


def column_from_row(row: BoardColumnRow) -> d.BoardColumn:
    return d.BoardColumn(
        id=row.id,
        name=row.name,
        position=row.position,
        phase_mapping=tuple(row.phase_mapping or ()),
        wip_limit=row.wip_limit,
        auto_transition_to=row.auto_transition_to,
    )


def workflow_from_row(row: WorkflowRow) -> d.Workflow:
    return d.Workflow(
        name=row.name,
        description=row.description,
        mode=d.WorkflowMode(row.mode),
        version=row.version,
        phases=tuple(phase_from_row(p) for p in row.phases),
        board_columns=tuple(column_from_row(c) for c in row.board_columns),
        settings=dict(row.settings or {}),
    )
