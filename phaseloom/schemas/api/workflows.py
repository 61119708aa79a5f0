"""Bodies of ``/api/workflows``: the outcome of loading a workflow file, a summary per workflow, a whole workflow."""

from __future__ import annotations

import dataclasses
from typing import Any

from phaseloom.schemas.api.common import Out
from phaseloom.schemas.api.phases import PhaseOut


class LoadOutcomeOut(Out):
    workflow_id: int
    name: str
    version: int
    action: str


class WorkflowSummaryOut(Out):
    id: int
    name: str
    version: int
    mode: str
    phases: int
    projects: int
    description: str


class BoardColumnOut(Out):
    id: str
    name: str
    position: int
    phase_mapping: list[str]
    wip_limit: int | None
    auto_transition_to: str | None


class WorkflowOut(Out):
    name: str
    version: int
    mode: str
    description: str
    phases: list[PhaseOut]
    board_columns: list[BoardColumnOut]
    settings: dict[str, Any]

    @classmethod
    def from_domain(cls, workflow) -> "WorkflowOut":
        return cls(name=workflow.name, version=workflow.version, mode=workflow.mode.value,
                   description=workflow.description,
                   phases=[PhaseOut.from_domain(p) for p in workflow.ordered_phases],
                   board_columns=[BoardColumnOut.model_validate(dataclasses.asdict(c))
                                  for c in workflow.board_columns],
                   settings=dict(workflow.settings))
