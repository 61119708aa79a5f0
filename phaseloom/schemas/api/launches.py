"""Bodies of ``/api/launches``: start a ticket from a workflow's launch template."""

from __future__ import annotations

from pydantic import Field

from phaseloom.schemas.api.common import In, Out, ShortText, Text
from phaseloom.schemas.api.tickets import TicketOut
from phaseloom.schemas.launch import LaunchParameterSpec

ParamValue = str | int | float | bool | None


class LaunchCreate(In):
    workflow: ShortText
    project: ShortText
    params: dict[Text(100), ParamValue] = Field(default_factory=dict, max_length=100)
    priority: Text(20) = "MEDIUM"


class LaunchOut(Out):
    workflow: str
    project_id: int
    project_created: bool
    ticket: TicketOut
    task_id: int
    prompt: str


class LaunchFormOut(Out):
    workflow: str
    parameters: list[LaunchParameterSpec]
    first_task_prompt: str
    ticket_title: str
