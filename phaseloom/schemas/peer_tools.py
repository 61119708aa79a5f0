"""Results of the peers' tools (see :mod:`phaseloom.mcp.peer_tools`) that no other tool returns."""

from __future__ import annotations

from pydantic import BaseModel


class ResultSubmitted(BaseModel):
    result_id: int
    status: str
    validation_task_id: int | None
    message: str
