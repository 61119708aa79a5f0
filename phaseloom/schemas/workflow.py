"""The one validated schema every workflow goes through, whatever its source.

OmoiOS-style YAML, Hephaestus-style phase folders and code-first Python all produce a
:class:`WorkflowDocument`; :meth:`WorkflowDocument.to_domain` turns it into the pure
:class:`phaseloom.domain.phases.Workflow` the services work with.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from phaseloom.domain import phases as d
from phaseloom.domain.gate_definition import Gate
from phaseloom.domain.permissions import DEFAULT_PERMISSIONS, Permissions
from phaseloom.domain.task_paths import normalised_globs
from phaseloom.schemas.launch import LaunchTemplateSpec
from phaseloom.schemas.merge_queue import WorkflowSettingsSpec, plain_settings

_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]*$"
_INT32 = 2**31 - 1  # the database stores orders and limits as 32-bit integers


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ExpectedOutputSpec(_Strict):
    type: str = "file"
    pattern: str = Field(min_length=1)
    required: bool = True


class RetryBackoffSpec(_Strict):
    base_seconds: float = Field(default=2.0, ge=0)
    cap_seconds: float = Field(default=300.0, ge=0)


class PhaseConfigurationSpec(BaseModel):
    """Timeouts and retries; unknown keys are kept (``extra``) for phase-specific settings."""

    model_config = ConfigDict(extra="allow")

    timeout_seconds: float = Field(default=1800.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10_000)
    retry_backoff: RetryBackoffSpec = Field(default_factory=RetryBackoffSpec)
    # How many memories the phase's task instructions carry (default 20, 0: none; PhaseConfiguration.memory_preload).
    memory_preload: int | None = Field(default=None, ge=0, le=d.MAX_MEMORY_PRELOAD)
    # How long a question asked with ask_human waits for an answer (default a day; PhaseConfiguration).
    input_timeout_seconds: float | None = Field(default=None, gt=0)

    # The paths (globs) the phase's tasks touch: the claim never runs two overlapping ones of a project at once.
    paths: list[str] | None = None

    @field_validator("paths", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> list[str] | None:
        return None if value is None else normalised_globs(value)


class PhaseSpec(_Strict):
    id: str = Field(pattern=_ID_PATTERN, max_length=100)
    name: str = Field(default="", max_length=200)
    description: str = ""
    sequence_order: int = Field(default=0, ge=-_INT32, le=_INT32)
    allowed_transitions: list[str] = Field(default_factory=list)
    is_terminal: bool = False
    done_definitions: list[str] = Field(default_factory=list)
    expected_outputs: list[ExpectedOutputSpec] = Field(default_factory=list)
    phase_prompt: str = ""
    next_steps_guide: list[str] = Field(default_factory=list)
    configuration: PhaseConfigurationSpec = Field(default_factory=PhaseConfigurationSpec)
    gate: dict[str, Any] = Field(default_factory=dict)
    initial_tasks: list[dict[str, Any]] = Field(default_factory=list)
    working_directory: str = ""
    permissions: Permissions = DEFAULT_PERMISSIONS

    @field_validator("done_definitions", "next_steps_guide", mode="before")
    @classmethod
    def _string_is_one_item(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("allowed_transitions", mode="before")
    @classmethod
    def _phases_as_ids(cls, value: Any) -> Any:
        return _ids_of(value)

    @field_validator("gate")
    @classmethod
    def _gate_is_valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        from phaseloom.schemas.gates import parse_gate

        return parse_gate(value).as_stored()

    @field_validator("initial_tasks")
    @classmethod
    def _initial_tasks_are_valid(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from phaseloom.schemas.gates import parse_initial_tasks

        return parse_initial_tasks(value)

    def to_domain(self) -> d.Phase:
        cfg = self.configuration
        known = {"timeout_seconds", "max_retries", "retry_backoff"}
        extra = {k: v for k, v in cfg.model_dump().items() if k not in known}
        if extra.get("memory_preload") is None:
            extra.pop("memory_preload", None)  # unset: stored as absent, so the default applies
        if extra.get("input_timeout_seconds") is None:
            extra.pop("input_timeout_seconds", None)
        if not extra.get("paths"):
            extra.pop("paths", None)
        return d.Phase(
            id=self.id,
            name=self.name or self.id.removeprefix("PHASE_").replace("_", " ").title(),
            sequence_order=self.sequence_order,
            description=self.description,
            allowed_transitions=tuple(self.allowed_transitions),
            is_terminal=self.is_terminal,
            done_definitions=tuple(self.done_definitions),
            expected_outputs=tuple(d.ExpectedOutput(**o.model_dump()) for o in self.expected_outputs),
            phase_prompt=self.phase_prompt,
            next_steps_guide=tuple(self.next_steps_guide),
            configuration=d.PhaseConfiguration(
                timeout_seconds=cfg.timeout_seconds,
                max_retries=cfg.max_retries,
                retry_backoff=d.RetryBackoff(**cfg.retry_backoff.model_dump()),
                extra=extra,
            ),
            gate=Gate.from_stored(self.gate),  # the validator left the gate in its stored form
            initial_tasks=tuple(self.initial_tasks),
            working_directory=self.working_directory,
            permissions=self.permissions,
        )


class BoardColumnSpec(_Strict):
    id: str = Field(pattern=_ID_PATTERN, max_length=100)
    name: str = Field(default="", max_length=200)
    phase_mapping: list[str] = Field(min_length=1)
    wip_limit: int | None = Field(default=None, ge=1, le=_INT32)
    auto_transition_to: str | None = None

    @field_validator("phase_mapping", mode="before")
    @classmethod
    def _phases_as_ids(cls, value: Any) -> Any:
        return _ids_of(value)

    @field_validator("auto_transition_to", mode="before")
    @classmethod
    def _phase_as_id(cls, value: Any) -> Any:
        return value.id if isinstance(value, PhaseSpec) else value


class WorkflowDocument(_Strict):
    """A whole workflow: its phases, board columns and workflow-level settings."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    mode: d.WorkflowMode = d.WorkflowMode.STRUCTURED
    phases: list[PhaseSpec] = Field(min_length=1)
    board_columns: list[BoardColumnSpec] = Field(default_factory=list)
    settings: WorkflowSettingsSpec = Field(default_factory=dict)  # type: ignore[assignment]
    # Stored with the settings (``settings.launch_template``) but written at the top level of a file.
    launch_template: LaunchTemplateSpec | None = None

    @field_validator("settings")
    @classmethod
    def _mcp_policies_are_valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        from phaseloom.schemas.mcp import parse_workflow_policies

        parse_workflow_policies(value)  # settings.mcp_policies: see the README's "MCP server" section
        if "launch_template" in value:
            raise ValueError("write launch_template at the top level of the workflow, not under settings")
        fallback = value.get("fallback_runtime")
        if fallback is not None and not ((isinstance(fallback, str) and fallback.startswith("command:"))
                                         or (isinstance(fallback, dict) and fallback.get("command"))):
            raise ValueError(f"settings.fallback_runtime: {fallback!r} is not a runtime; use 'command:<preset>' "
                             "or {command: [argv template…], env: {…}}")
        return value

    @model_validator(mode="after")
    def _merge_returns_to_a_working_phase(self) -> "WorkflowDocument":
        merge = self.settings.get("merge")
        back = merge.return_to if merge is not None else None
        if back is not None and not any(p.id == back and not p.is_terminal for p in self.phases):
            raise ValueError(f"settings.merge.return_to: {back!r} is not a non-terminal phase of this workflow")
        return self

    @model_validator(mode="after")
    def _number_unordered_phases(self) -> "WorkflowDocument":
        # Without any sequence_order the list order is the order: otherwise the initial
        # phase would silently be the alphabetically first one.
        if not any("sequence_order" in p.model_fields_set for p in self.phases):
            self.phases = [p.model_copy(update={"sequence_order": i}) for i, p in enumerate(self.phases)]
        return self

    def to_domain(self, version: int = 1) -> d.Workflow:
        return d.Workflow(
            name=self.name,
            description=self.description,
            mode=self.mode,
            version=version,
            phases=tuple(p.to_domain() for p in self.phases),
            board_columns=tuple(
                d.BoardColumn(
                    id=c.id,
                    name=c.name or c.id.replace("_", " ").title(),
                    position=i,
                    phase_mapping=tuple(c.phase_mapping),
                    wip_limit=c.wip_limit,
                    auto_transition_to=c.auto_transition_to,
                )
                for i, c in enumerate(self.board_columns)
            ),
            settings={**plain_settings(self.settings), **({"launch_template": self.launch_template.model_dump()}
                                          if self.launch_template is not None else {})},
        )


def _ids_of(value: Any) -> Any:
    """Code-first convenience: a phase object stands for its id (``allowed_transitions=[done]``)."""
    if isinstance(value, (list, tuple)):
        return [item.id if isinstance(item, PhaseSpec) else item for item in value]
    return value
