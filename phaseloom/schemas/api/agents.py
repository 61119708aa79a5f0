"""Bodies of ``/api/agents``: register an agent; an agent as returned, with its token once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from phaseloom.schemas.api.common import Id, In, Out, PhaseId, Text


class AgentRegister(In):
    name: Text(200, min_length=1)
    agent_type: Text(50) = "worker"
    runtime: Text(50) = "scripted"
    phase_id: PhaseId | None = None
    capabilities: list[Text(100)] = Field(default_factory=list, max_length=50)
    capacity: Annotated[int, Field(ge=1, le=1000)] = 1
    project_id: Id | None = None
    agent_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")] | None = None
    host: Text(200) = ""


class AgentOut(Out):
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
