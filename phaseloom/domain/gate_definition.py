"""A phase's gate as the domain holds it: plain frozen values, built once when the workflow loads.

The workflow file's ``gate:`` is validated by :class:`phaseloom.schemas.gates.GateSpec` (which
names the file, line and field of a mistake) and converted to a :class:`Gate` there; a stored
phase row holds :meth:`Gate.as_stored` (defaults left out, so an empty gate stays ``{}``) and
:meth:`Gate.from_stored` reads it back. :mod:`phaseloom.domain.gates` evaluates a :class:`Gate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

# Criteria that no machine can check: they pass only with a recorded approval.
APPROVAL_TYPES = frozenset({"manual_verification", "code_review"})
DEFAULT_COMMAND_TIMEOUT = 120.0


@dataclass(frozen=True)
class ArtifactCriterion:
    """A check on the text of every file an artifact pattern matches."""

    type: str
    value: float | None = None
    sections: tuple[str, ...] = ()
    pattern: str | None = None
    description: str = ""


@dataclass(frozen=True)
class GateArtifact:
    """Files the phase must produce (a glob relative to the workspace) and checks on their text."""

    pattern: str
    type: str = "file"
    required: bool = True
    criteria: tuple[ArtifactCriterion, ...] = ()


@dataclass(frozen=True)
class GateCriterion:
    """One gate criterion; which fields it uses depends on ``type``."""

    type: str
    target: str | None = None
    pattern: str | None = None
    command: tuple[str, ...] | None = None
    timeout_seconds: float = DEFAULT_COMMAND_TIMEOUT
    value: float | None = None
    comparison: str = "at_most"
    description: str = ""

    @property
    def needs_approval(self) -> bool:
        """True when only a person's recorded approval can pass this criterion."""
        return self.type in APPROVAL_TYPES or (self.type == "performance_metric" and not self.target)


@dataclass(frozen=True)
class Gate:
    require_tasks_completed: bool = True
    require_validation: bool = False
    require_done_definitions: bool = False
    artifacts: tuple[GateArtifact, ...] = ()
    criteria: tuple[GateCriterion, ...] = ()

    def as_stored(self) -> dict[str, Any]:
        """The compact dict kept on the phase row and written back to files: defaults left out."""
        return _compact(self)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> Gate:
        """The gate from :meth:`as_stored`'s dict (already validated when the workflow was stored)."""
        data = dict(data or {})
        artifacts = tuple(
            GateArtifact(**{**a, "criteria": tuple(
                ArtifactCriterion(**{**c, "sections": tuple(c.get("sections", ()))})
                for c in a.get("criteria", ()))})
            for a in data.pop("artifacts", ()))
        criteria = tuple(
            GateCriterion(**{**c, "command": None if c.get("command") is None else tuple(c["command"])})
            for c in data.pop("criteria", ()))
        return cls(**data, artifacts=artifacts, criteria=criteria)


def _compact(value: Any) -> dict[str, Any]:
    """A dataclass as a dict of its non-default fields, nested values as lists and dicts."""
    out: dict[str, Any] = {}
    for f in fields(value):
        item = getattr(value, f.name)
        if item == f.default:
            continue
        if isinstance(item, tuple):
            item = [_compact(v) if hasattr(v, "__dataclass_fields__") else v for v in item]
        out[f.name] = item
    return out
