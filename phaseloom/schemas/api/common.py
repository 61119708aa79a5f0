"""Request and response bodies of the HTTP API.

Every input is bounded (lengths, list sizes, id ranges) so that bad input is a 422 at the edge,
never an overflow or a truncation error deep in the database.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from phaseloom.schemas.workflow import PhaseSpec

MAX_ID = 2**31 - 1
MAX_PAGE = 500
T = TypeVar("T")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it on every backend so both behave alike.
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    return value


def Text(max_length: int, min_length: int = 0):  # noqa: N802 - reads as a type in annotations
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(_no_nul)]


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PhaseId = Text(100)
ShortText = Text(200)
LongText = Text(100_000)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list; ask again with ``offset=next_offset`` while it is not null."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


def page_of(items: list, limit: int, offset: int) -> dict:
    return {"items": items, "limit": limit, "offset": offset,
            "next_offset": offset + limit if len(items) == limit else None}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


# -- workflows and phases ------------------------------------------------------
class LoadOutcomeOut(_Out):
    workflow_id: int
    name: str
    version: int
    action: str


class WorkflowSummaryOut(_Out):
    id: int
    name: str
    version: int
    mode: str
    phases: int
    projects: int
    description: str


class PhaseOut(_Out):
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

    @classmethod
    def from_domain(cls, phase) -> "PhaseOut":
        return cls.model_validate(dataclasses.asdict(phase))


class BoardColumnOut(_Out):
    id: str
    name: str
    position: int
    phase_mapping: list[str]
    wip_limit: int | None
    auto_transition_to: str | None


class WorkflowOut(_Out):
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


class PhaseCreate(PhaseSpec):
    """A custom phase for a stored workflow. ``transitions_from`` names existing phases that gain
    a transition to it (a structured workflow refuses a phase nothing can reach)."""

    workflow: ShortText
    transitions_from: list[PhaseId] = Field(default_factory=list, max_length=100)


class PhaseUpdate(_In):
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


# -- projects ------------------------------------------------------------------
class ProjectCreate(_In):
    name: Text(200, min_length=1)
    workflow: ShortText = "software_development"
    description: LongText = ""
    repo_path: Text(4000) = ""


class ProjectOut(_Out):
    id: int
    name: str
    workflow_id: int
    description: str
    repo_path: str
    tickets: int | None = None


# -- tickets -------------------------------------------------------------------
class TicketCreate(_In):
    project: ShortText
    title: Text(500, min_length=1)
    description: LongText = ""
    priority: Text(20) = "MEDIUM"
    blocked_by: list[Id] = Field(default_factory=list, max_length=100)


class TicketTransition(_In):
    to_phase_id: PhaseId
    reason: Text(2000) = ""
    force: bool = Field(default=False, description="override a WIP limit (admin only; recorded in history)")


class TicketBlock(_In):
    reason: Text(2000, min_length=1)


class TicketUnblock(_In):
    to_phase_id: PhaseId | None = None
    reason: Text(2000) = "unblocked"


class TicketOut(_Out):
    id: int
    project_id: int
    title: str
    description: str
    priority: str
    phase_id: str
    phase_name: str
    status: str
    column: str | None
    is_done: bool
    blocked_reason: str | None
    return_phase_id: str | None
    open_blockers: int
    created_at: datetime
    updated_at: datetime


class HistoryOut(_Out):
    id: int
    from_phase_id: str | None
    to_phase_id: str
    from_status: str | None
    to_status: str
    reason: str
    initiated_by: str
    forced: bool
    created_at: datetime


# -- tasks ---------------------------------------------------------------------
class TaskCreate(_In):
    ticket_id: Id
    phase_id: PhaseId
    title: Text(500, min_length=1)
    description: LongText = ""
    priority: Text(20) | None = None
    task_type: Text(50) = "work"
    required_capabilities: list[Text(100)] = Field(default_factory=list, max_length=50)
    depends_on: list[Id] = Field(default_factory=list, max_length=100)
    max_retries: Annotated[int, Field(ge=0, le=100)] | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=7 * 86400)] | None = None


LeaseSeconds = Annotated[float, Field(gt=0, le=86400)]


class TaskClaim(_In):
    agent_id: Text(64) | None = Field(default=None, description="required with an admin token")
    lease_seconds: LeaseSeconds | None = None


class TaskHeartbeat(_In):
    lease_seconds: LeaseSeconds | None = None


class TaskComplete(_In):
    result: dict[str, Any] = Field(default_factory=dict)


class TaskFail(_In):
    error: Text(10_000, min_length=1)
    retryable: bool = True


class TaskOut(_Out):
    id: int
    ticket_id: int
    project_id: int
    phase_id: str
    task_type: str
    title: str
    description: str
    priority: str
    status: str
    required_capabilities: list[str]
    unmet_dependencies: int
    assigned_agent_id: str | None
    lease_expires_at: datetime | None
    retry_count: int
    max_retries: int
    next_attempt_at: datetime | None
    result: dict[str, Any] | None
    error: str | None
    error_class: str | None
    created_by: str
    created_at: datetime
    claimed_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None


class ClaimOut(BaseModel):
    task: TaskOut | None


# -- agents --------------------------------------------------------------------
class AgentRegister(_In):
    name: Text(200, min_length=1)
    agent_type: Text(50) = "worker"
    runtime: Text(50) = "scripted"
    phase_id: PhaseId | None = None
    capabilities: list[Text(100)] = Field(default_factory=list, max_length=50)
    capacity: Annotated[int, Field(ge=1, le=1000)] = 1
    project_id: Id | None = None
    agent_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")] | None = None
    host: Text(200) = ""


class AgentOut(_Out):
    id: str
    name: str
    agent_type: str
    runtime: str
    phase_id: str | None
    project_id: int | None
    capabilities: list[str]
    capacity: int
    status: str
    health: str
    host: str = ""
    last_heartbeat_at: datetime | None
    created_at: datetime


class AgentRegistered(BaseModel):
    agent: AgentOut
    token: str = Field(description="the agent's bearer token; shown only this once")


# -- board ---------------------------------------------------------------------
class ColumnOut(_Out):
    id: str
    name: str
    phase_mapping: list[str]
    wip_limit: int | None
    wip_use: int
    tickets: list[TicketOut]


class BoardOut(BaseModel):
    project_id: int
    columns: list[ColumnOut]


class BoardMove(_In):
    ticket_id: Id
    column_id: PhaseId
    force: bool = False
    reason: Text(2000) = ""


# -- discoveries, artifacts, gates ---------------------------------------------
class DiscoveryCreate(_In):
    """Something found while working; ``spawn_phase_id`` queues a task for it in any phase."""

    source_task_id: Id | None = None
    ticket_id: Id | None = Field(default=None, description="needed when there is no source task")
    discovery_type: Text(50, min_length=1)
    description: Text(10_000, min_length=1)
    spawn_phase_id: PhaseId | None = None
    spawn_description: LongText | None = None
    priority_boost: bool = False


class DiscoveryOut(_Out):
    id: int
    ticket_id: int
    project_id: int
    source_task_id: int | None
    source_phase_id: str | None
    discovery_type: str
    description: str
    spawn_phase_id: str | None
    spawned_task_ids: list[int]
    priority_boost: bool
    status: str
    created_by: str
    created_at: datetime


class ArtifactOut(_Out):
    id: int
    ticket_id: int
    phase_id: str
    task_id: int | None
    artifact_type: str
    path: str
    content_hash: str
    size: int
    created_at: datetime


class ChecklistItemOut(_Out):
    index: int
    text: str
    ticked: bool
    evidence: str
    ticked_by: str
    ticked_at: datetime | None


class GateResultOut(_Out):
    id: int
    phase_id: str
    passed: bool
    outcomes: list[dict[str, Any]]
    blocking_reasons: list[str]
    created_at: datetime


class GateStatusOut(BaseModel):
    ticket_id: int
    phase_id: str
    latest_result: GateResultOut | None
    done_definitions: list[ChecklistItemOut]
