"""Phases, workflows and the transition rules: the one source of truth for where a ticket may go."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from phaseloom.domain.errors import InvalidTransition, NotFound
from phaseloom.domain.gate_definition import Gate
from phaseloom.domain.permissions import DEFAULT_PERMISSIONS, Permissions

BLOCKED_PHASE = "PHASE_BLOCKED"


class WorkflowMode(str, enum.Enum):
    STRUCTURED = "structured"  # allowed_transitions are enforced
    FREE_FORM = "free_form"  # Hephaestus style: any phase to any phase


@dataclass(frozen=True)
class ExpectedOutput:
    type: str
    pattern: str
    required: bool = True


@dataclass(frozen=True)
class RetryBackoff:
    base_seconds: float = 2.0
    cap_seconds: float = 300.0


DEFAULT_MEMORY_PRELOAD = 20  # memories a task's instructions carry unless its phase sets memory_preload
MAX_MEMORY_PRELOAD = 100
# How long a task waits for a person's answer (ask_human) unless its phase sets input_timeout_seconds.
DEFAULT_INPUT_TIMEOUT_SECONDS = 86_400.0


@dataclass(frozen=True)
class PhaseConfiguration:
    timeout_seconds: float = 1800.0
    max_retries: int = 3
    retry_backoff: RetryBackoff = field(default_factory=RetryBackoff)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def memory_preload(self) -> int:
        """How many memories to preload into the phase's task instructions (``memory_preload``; 0: none)."""
        value = self.extra.get("memory_preload")
        return DEFAULT_MEMORY_PRELOAD if value is None else int(value)

    @property
    def input_timeout_seconds(self) -> float:
        """How long a question of the phase's agent waits for an answer before its ticket is blocked."""
        value = self.extra.get("input_timeout_seconds")
        return DEFAULT_INPUT_TIMEOUT_SECONDS if value is None else float(value)

    @property
    def paths(self) -> tuple[str, ...]:
        """The path globs the phase's tasks declare they touch (``paths``; none: undeclared)."""
        return tuple(self.extra.get("paths") or ())


@dataclass(frozen=True)
class Phase:
    id: str
    name: str
    sequence_order: int
    description: str = ""
    allowed_transitions: tuple[str, ...] = ()
    is_terminal: bool = False
    done_definitions: tuple[str, ...] = ()
    expected_outputs: tuple[ExpectedOutput, ...] = ()
    phase_prompt: str = ""
    next_steps_guide: tuple[str, ...] = ()
    configuration: PhaseConfiguration = field(default_factory=PhaseConfiguration)
    gate: Gate = field(default_factory=Gate)
    initial_tasks: tuple[dict[str, Any], ...] = ()
    working_directory: str = ""
    permissions: Permissions = DEFAULT_PERMISSIONS


@dataclass(frozen=True)
class BoardColumn:
    id: str
    name: str
    position: int
    phase_mapping: tuple[str, ...]
    wip_limit: int | None = None
    auto_transition_to: str | None = None


@dataclass(frozen=True)
class Workflow:
    """A named, versioned set of phases with its board columns."""

    name: str
    phases: tuple[Phase, ...]
    board_columns: tuple[BoardColumn, ...] = ()
    mode: WorkflowMode = WorkflowMode.STRUCTURED
    version: int = 1
    description: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def phase(self, phase_id: str) -> Phase:
        for phase in self.phases:
            if phase.id == phase_id:
                return phase
        raise NotFound("phase", f"{phase_id} (workflow {self.name})")

    def has_phase(self, phase_id: str) -> bool:
        return any(p.id == phase_id for p in self.phases)

    @property
    def ordered_phases(self) -> list[Phase]:
        return sorted(self.phases, key=lambda p: (p.sequence_order, p.id))

    @property
    def initial_phase(self) -> Phase:
        """Where a new ticket starts: the lowest-ordered non-terminal phase."""
        active = [p for p in self.ordered_phases if not p.is_terminal]
        return (active or self.ordered_phases)[0]

    def allowed_targets(self, from_phase_id: str) -> list[str]:
        """Phases a ticket in ``from_phase_id`` may move to, in sequence order."""
        source = self.phase(from_phase_id)
        if self.mode is WorkflowMode.FREE_FORM:
            return [p.id for p in self.ordered_phases if p.id != source.id]
        return list(source.allowed_transitions)

    def check_transition(self, from_phase_id: str, to_phase_id: str) -> Phase:
        """Return the target phase, or raise :class:`InvalidTransition` naming the allowed ones."""
        allowed = self.allowed_targets(from_phase_id)
        if not self.has_phase(to_phase_id):
            raise InvalidTransition(from_phase_id, to_phase_id, allowed, "no such phase in this workflow")
        if to_phase_id not in allowed:
            raise InvalidTransition(from_phase_id, to_phase_id, allowed)
        return self.phase(to_phase_id)

    def next_phase(self, from_phase_id: str) -> Phase | None:
        """The phase a ticket progresses to when its current phase is done.

        The board column's ``auto_transition_to`` wins; otherwise the first allowed target, by
        sequence order, that is not the blocked phase and lies after the current one.
        """
        column = self.column_for(from_phase_id)
        if column and column.auto_transition_to and column.auto_transition_to != from_phase_id:
            return self.phase(column.auto_transition_to)
        current = self.phase(from_phase_id)
        candidates = [
            self.phase(pid)
            for pid in self.allowed_targets(from_phase_id)
            if pid != BLOCKED_PHASE and self.has_phase(pid)
        ]
        forward = [p for p in candidates if p.sequence_order > current.sequence_order]
        ordered = sorted(forward or candidates, key=lambda p: (p.sequence_order, p.id))
        return ordered[0] if ordered else None

    def column_for(self, phase_id: str) -> BoardColumn | None:
        for column in self.board_columns:
            if phase_id in column.phase_mapping:
                return column
        return None

    def status_for(self, phase_id: str) -> str:
        """A ticket's status is derived from its phase: the board column it falls in."""
        column = self.column_for(phase_id)
        if column:
            return column.id
        return phase_id.removeprefix("PHASE_").lower()
