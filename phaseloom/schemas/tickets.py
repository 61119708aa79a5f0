"""The shape of a ticket shared by the MCP tools and the API.

An agent over MCP sees :class:`TicketInfo`; the API's ``TicketOut`` is the same ticket with its
bookkeeping added (``phaseloom.schemas.api.tickets``). Both read a service ``TicketView``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TicketInfo(BaseModel):
    """A ticket: what it is, where it stands in its workflow, and why it is blocked if it is."""

    model_config = ConfigDict(from_attributes=True)

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
