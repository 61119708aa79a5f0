"""Bodies of ``/api/phases``: a phase as returned, a custom phase to add, the fields to change on one."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from pydantic import Field

from phaseloom.domain.permissions import Permissions
from phaseloom.schemas.api.common import MAX_ID, In, LongText, Out, PhaseId, ShortText, Text
from phaseloom.schemas.workflow import PhaseSpec


class PhaseOut(Out):
    id: str
    name: str
    sequence_order: int
    description: str
    allowed_transitions: list[str]
    is_terminal: bool
    done_definitions: list[str]
    expected_outputs: list[dict[str, Any]]
    phase_prompt: str
    next_steps_guide: list[str]
    configuration: dict[str, Any]
    gate: dict[str, Any]
    initial_tasks: list[dict[str, Any]]
    working_directory: str
    permissions: Permissions

    @classmethod
    def from_domain(cls, phase) -> "PhaseOut":
        return cls.model_validate({**dataclasses.asdict(phase), "gate": phase.gate.as_stored()})


class PhaseCreate(PhaseSpec):
    """A custom phase for a stored workflow. ``transitions_from`` names existing phases that gain
    a transition to it (a structured workflow refuses a phase nothing can reach)."""

    workflow: ShortText
    transitions_from: list[PhaseId] = Field(default_factory=list, max_length=100)


class PhaseUpdate(In):
    """Fields to change on a phase; fields left out keep their value."""

    name: Text(200) | None = None
    description: LongText | None = None
    sequence_order: Annotated[int, Field(ge=-MAX_ID, le=MAX_ID)] | None = None
    allowed_transitions: list[PhaseId] | None = Field(default=None, max_length=100)
    is_terminal: bool | None = None
    done_definitions: list[LongText] | None = Field(default=None, max_length=100)
    phase_prompt: LongText | None = None
    next_steps_guide: list[LongText] | None = Field(default=None, max_length=100)
    gate: dict[str, Any] | None = None
    working_directory: Text(1000) | None = None
