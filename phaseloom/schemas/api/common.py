"""Pieces every API schema uses: bounded text and ids, request and response bases, pages, the error body.

Every input is bounded (lengths, list sizes, id ranges) so that bad input is a 422 at the edge,
never an overflow or a truncation error deep in the database.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


class In(BaseModel):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body, read from the attributes of a service's view or a database row."""

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
