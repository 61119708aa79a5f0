"""Memory schemas shared by the API and the MCP tools."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from phaseloom.domain.memory import MemoryType

MemoryTypeName = Literal["error_fix", "discovery", "decision", "learning", "warning", "codebase_knowledge"]


class MemoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=20_000)
    memory_type: MemoryTypeName
    project_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    task_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    goal: str = Field(default="", max_length=5_000)
    result: str = Field(default="", max_length=5_000)
    feedback: str = Field(default="", max_length=5_000)
    related_files: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=50)


class MemoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    ticket_id: int | None
    task_id: int | None
    phase_id: str | None
    agent_id: str | None
    memory_type: str
    content: str
    goal: str
    result: str
    feedback: str
    related_files: list[str]
    tags: list[str]
    times_seen: int
    times_used: int
    created_at: datetime


class MemorySaved(BaseModel):
    memory: MemoryOut
    action: Literal["created", "merged"]


class MemoryHitOut(BaseModel):
    memory: MemoryOut
    score: float
    semantic_rank: int | None
    keyword_rank: int | None


class MemorySearchResult(BaseModel):
    query: str
    mode: Literal["hybrid", "semantic", "keyword"]
    semantic_available: bool
    hits: list[MemoryHitOut]


def hit_out(hit) -> MemoryHitOut:
    return MemoryHitOut(memory=MemoryOut.model_validate(hit.memory), score=hit.score,
                        semantic_rank=hit.semantic_rank, keyword_rank=hit.keyword_rank)


__all__ = ["MemoryCreate", "MemoryOut", "MemorySaved", "MemoryHitOut", "MemorySearchResult", "hit_out", "MemoryType"]


class PreloadedMemoryOut(BaseModel):
    """A memory a task's instructions carried when they were last built (``rank`` 1 first)."""

    rank: int
    memory_id: int
    memory_type: str
    phase_id: str | None
    content: str = Field(description="the text as the instructions carried it (whitespace folded, cut at 400)")
    preloaded_at: datetime | None
