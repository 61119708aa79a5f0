"""``settings.merge`` of a workflow file: where its finished tickets land and what must pass first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from typing_extensions import TypedDict

from phaseloom.domain.merge_queue import DEFAULT_CHECK_TIMEOUT


def _an_argv(argv: list[str]) -> list[str]:
    if not argv or not argv[0].strip():
        raise ValueError("each check is a non-empty argv whose first item names the program")
    return argv


Argv = Annotated[list[str], AfterValidator(_an_argv)]


class MergeSettingsSpec(BaseModel):
    """``{into: main, check: [[argv…], …], strategy: merge|squash|rebase}``; see the README's merge queue."""

    model_config = ConfigDict(extra="forbid")

    into: str = Field(default="main", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._/\-]+$")
    # Each check is one argv, run without a shell in the merged result; one argv alone may be written flat.
    check: list[Argv] = Field(default_factory=list, max_length=20)
    strategy: Literal["merge", "squash", "rebase"] = "merge"
    timeout_seconds: float = Field(default=DEFAULT_CHECK_TIMEOUT, gt=0, le=86_400)
    return_to: str | None = Field(default=None, min_length=1, max_length=100)

    @field_validator("check", mode="before")
    @classmethod
    def _flat_argv_is_one_check(cls, value: Any) -> Any:
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            return [value]
        return value

    @field_validator("into")
    @classmethod
    def _a_branch_name(cls, value: str) -> str:
        if value.startswith(("-", "/")) or value.endswith(("/", ".lock")) or ".." in value:
            raise ValueError(f"{value!r} is not a branch name")
        return value


class WorkflowSettingsSpec(TypedDict, total=False):
    """A workflow's ``settings``: free-form keys, with ``merge`` checked field by field."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]
    merge: MergeSettingsSpec


def plain_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` as stored (JSON): the checked ``merge`` back to a plain mapping."""
    merge = settings.get("merge")
    if isinstance(merge, MergeSettingsSpec):
        return {**settings, "merge": merge.model_dump()}
    return settings
