"""Shapes of MCP policies (as written in a workflow file or posted to the API) and of MCP tool results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from phaseloom.domain.mcp_policy import McpPolicy
from phaseloom.schemas.tickets import TicketInfo  # noqa: F401 - a tool result; the API's TicketOut extends it

_PATTERN = Field(min_length=1, max_length=200)


class McpPolicySpec(BaseModel):
    """One policy: which agent types and phases it covers, which tools it allows and denies (wildcards)."""

    model_config = ConfigDict(extra="forbid")

    agent_type: str = Field(default="*", min_length=1, max_length=100)
    phase: str = Field(default="*", min_length=1, max_length=100)
    allow: list[str] = Field(default_factory=lambda: ["*"])
    deny: list[str] = Field(default_factory=list)

    @field_validator("allow", "deny", mode="before")
    @classmethod
    def _string_is_one_item(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("allow", "deny")
    @classmethod
    def _patterns_not_blank(cls, value: list[str]) -> list[str]:
        if any(not p.strip() for p in value):
            raise ValueError("tool patterns must not be blank")
        return value

    def to_domain(self, source: str = "") -> McpPolicy:
        return McpPolicy(agent_type=self.agent_type, phase=self.phase, allow=tuple(self.allow),
                         deny=tuple(self.deny), source=source)


def parse_workflow_policies(settings: dict[str, Any]) -> list[McpPolicySpec]:
    """The ``mcp_policies`` list of a workflow's ``settings`` (raises pydantic's ValidationError)."""
    raw = settings.get("mcp_policies") or []
    if not isinstance(raw, list):
        raise ValueError("settings.mcp_policies must be a list of policies")
    return [McpPolicySpec.model_validate(item) for item in raw]


class McpPolicyOut(McpPolicySpec):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    id: int | None = None
    workflow_id: int | None = None
    source: str = "api"


# -- tool results --------------------------------------------------------------
class TaskInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    project_id: int
    phase_id: str
    title: str
    description: str
    priority: str
    status: str
    task_type: str
    assigned_agent_id: str | None
    retry_count: int
    max_retries: int
    lease_expires_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class MyTaskResult(BaseModel):
    task: TaskInfo | None = Field(description="the agent's current task, or null when the queue had nothing for it")
    claimed_now: bool = Field(description="true when this call claimed the task")
    message: str
    steering_notes: list[str] = Field(default_factory=list, description="Guardian notes for you; each shown once")


class PhaseInstructions(BaseModel):
    task_id: int
    ticket_id: int
    phase_id: str
    phase_name: str
    description: str
    prompt: str
    done_definitions: list[str]
    expected_outputs: list[dict[str, Any]]
    next_steps: list[str]
    allowed_transitions: list[str]
    text: str = Field(description="the same instructions rendered as one Markdown document")
    steering_notes: list[str] = Field(default_factory=list, description="Guardian notes for you; each shown once")


class PhaseInfo(BaseModel):
    id: str
    name: str
    description: str
    sequence_order: int
    is_terminal: bool
    allowed_transitions: list[str]


class PhaseList(BaseModel):
    workflow: str
    phases: list[PhaseInfo]


class DiscoveryOutcome(BaseModel):
    discovery_id: int | str | None
    type: str
    spawned_task_id: int | None = None
    spawned_phase_id: str | None = None
    message: str


class ValidationOutcome(BaseModel):
    task_id: int
    passed: bool
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class DoneDefinitionOutcome(BaseModel):
    ticket_id: int
    phase_id: str
    definition: str
    ticked: list[str]
    remaining: list[str]


class CommentInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    author: str
    body: str
    created_at: datetime


class QuestionAsked(BaseModel):
    """ask_human's result: the question is with a person; the agent should end its turn now."""

    task_id: int
    request_id: int
    status: str
    message: str


class ArtifactWritten(BaseModel):
    task_id: int
    path: str
    pattern: str = Field(description="the expected-output pattern the path matched")
    bytes: int
    message: str
