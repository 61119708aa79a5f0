"""Shapes of costs, budgets and phase statistics, shared by the API and the MCP tool."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scope = Literal["project", "ticket", "phase", "agent"]


class CostRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    task_id: int | None
    project_id: int
    ticket_id: int | None
    phase_id: str
    agent_id: str | None
    model: str
    input_tokens: int
    output_tokens: int
    amount: float
    currency: str
    created_at: datetime


class CostGroupOut(BaseModel):
    key: str | None
    amount: float
    input_tokens: int
    output_tokens: int
    records: int
    currency: str


class CostTotalsOut(BaseModel):
    group_by: str
    since: datetime | None
    total: float
    currency: str
    groups: list[CostGroupOut]


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Scope
    limit: float = Field(ge=0, le=1e12)
    alert_threshold: float = Field(default=0.8, gt=0, le=1)
    project: int | str | None = Field(default=None, description="project id or name (project/phase scopes)")
    ticket_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    phase_id: str | None = Field(default=None, min_length=1, max_length=100)
    agent_id: str | None = Field(default=None, min_length=1, max_length=64)


class BudgetChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: float | None = Field(default=None, ge=0, le=1e12)
    alert_threshold: float | None = Field(default=None, gt=0, le=1)


class BudgetOut(BaseModel):
    id: int
    scope: str
    project_id: int | None
    ticket_id: int | None
    phase_id: str | None
    agent_id: str | None
    limit: float
    spent: float
    currency: str
    alert_threshold: float
    warned: bool
    exhausted: bool


class UsageRecorded(BaseModel):
    """What the MCP ``report_usage`` tool answers."""

    task_id: int
    model: str
    input_tokens: int
    output_tokens: int
    amount: float
    currency: str
    message: str
