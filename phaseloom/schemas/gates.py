"""The ``gate:`` of a phase and its ``initial_tasks:``, as declared in a workflow file.

A gate says when a phase is really done::

    gate:
      require_tasks_completed: true
      require_done_definitions: true
      artifacts:
        - pattern: requirements.md
          type: document
          criteria:
            - {type: min_length, value: 200}
            - {type: required_sections, sections: [Overview, Requirements]}
      criteria:
        - {type: command_success, command: [python, -m, pytest, -q], timeout_seconds: 120}

Hephaestus ``validation.criteria`` arrive as ``{"type": check_type, "target": …, "description": …}``
(``check_type`` is accepted as the key too). A ``command_success`` / ``test_pass`` criterion given
only a ``target`` string takes it as the command, split like a shell would split it — but it is
never run through a shell.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from phaseloom.domain.gate_definition import DEFAULT_COMMAND_TIMEOUT, Gate

ArtifactCriterionType = Literal["min_length", "required_sections", "file_contains", "min_percentage"]
CriterionType = Literal[
    "file_exists", "file_contains", "command_success", "test_pass", "min_percentage",
    "manual_verification", "code_review", "performance_metric",
]
MAX_COMMAND_TIMEOUT = 3600.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
    return value


class ArtifactCriterionSpec(_Strict):
    """A check on the text of every file an artifact pattern matches."""

    type: ArtifactCriterionType
    value: float | None = Field(default=None, ge=0)
    sections: list[str] = Field(default_factory=list)
    pattern: str | None = None
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _pattern_is_regex(cls, value: str | None) -> str | None:
        return _check_regex(value)

    @model_validator(mode="after")
    def _has_what_its_type_needs(self) -> "ArtifactCriterionSpec":
        if self.type in ("min_length", "min_percentage") and self.value is None:
            raise ValueError(f"a {self.type} criterion needs 'value'")
        if self.type == "required_sections" and not self.sections:
            raise ValueError("a required_sections criterion needs 'sections' (a list of headings)")
        if self.type == "file_contains" and not self.pattern:
            raise ValueError("a file_contains criterion needs 'pattern' (a regular expression)")
        return self


class ArtifactSpec(_Strict):
    """Files the phase must produce (a glob relative to the workspace) and checks on their text."""

    pattern: str = Field(min_length=1)
    type: str = "file"
    required: bool = True
    criteria: list[ArtifactCriterionSpec] = Field(default_factory=list)


class CriterionSpec(_Strict):
    """One gate criterion; which fields it needs depends on ``type``."""

    type: CriterionType = Field(validation_alias=AliasChoices("type", "check_type"))
    target: str | None = None
    pattern: str | None = None
    command: list[str] | None = None
    timeout_seconds: float = Field(default=DEFAULT_COMMAND_TIMEOUT, gt=0, le=MAX_COMMAND_TIMEOUT)
    value: float | None = None
    comparison: Literal["at_most", "at_least"] = "at_most"
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _pattern_is_regex(cls, value: str | None) -> str | None:
        return _check_regex(value)

    @model_validator(mode="after")
    def _has_what_its_type_needs(self) -> "CriterionSpec":
        kind = self.type
        if kind in ("command_success", "test_pass"):
            if self.command is None and self.target:
                self.command = shlex.split(self.target)
            if not self.command or not all(isinstance(a, str) and a for a in self.command):
                raise ValueError(f"a {kind} criterion needs 'command' (a list of arguments, no shell)")
        if kind in ("file_exists", "file_contains", "min_percentage") and not self.target:
            raise ValueError(f"a {kind} criterion needs 'target' (a file or glob in the workspace)")
        if kind == "file_contains" and not self.pattern:
            raise ValueError("a file_contains criterion needs 'pattern' (a regular expression)")
        if kind == "min_percentage" and self.value is None:
            raise ValueError("a min_percentage criterion needs 'value' (the lowest acceptable percentage)")
        if kind == "performance_metric" and self.target and (self.pattern is None or self.value is None):
            raise ValueError("a measured performance_metric needs 'target', 'pattern' (one group) and 'value'")
        return self


class GateSpec(_Strict):
    require_tasks_completed: bool = True
    require_validation: bool = False
    require_done_definitions: bool = False
    artifacts: list[ArtifactSpec] = Field(default_factory=list)
    criteria: list[CriterionSpec] = Field(default_factory=list)

    def as_stored(self) -> dict[str, Any]:
        """The compact dict kept on the phase: defaults left out, so an empty gate stays ``{}``."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def to_domain(self) -> Gate:
        """The validated gate as the domain's plain value (built from the stored form: one conversion)."""
        return Gate.from_stored(self.as_stored())


class InitialTaskSpec(_Strict):
    """A task queued when a ticket enters the phase."""

    title: str = Field(min_length=1, max_length=500)
    description: str = ""
    priority: Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"] | None = None
    task_type: str = "work"
    required_capabilities: list[str] = Field(default_factory=list)


_INITIAL_TASKS = TypeAdapter(list[InitialTaskSpec])


def parse_initial_tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t.model_dump(exclude_defaults=True) for t in _INITIAL_TASKS.validate_python(tasks)]


def parse_gate(gate: dict[str, Any] | None) -> GateSpec:
    return GateSpec.model_validate(gate or {})
