"""When a ticket counts as stuck, and which phase a recovery task belongs in.

Pure rules over facts the diagnostics service gathers from the database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from phaseloom.domain.phases import Phase

IDLE = "idle"
GATE_FAILING = "gate_failing"
TASKS_FAILING = "tasks_failing"
VALIDATION_EXHAUSTED = "validation_exhausted"
AGENT_MISALIGNED = "agent_misaligned"  # the Guardian saw an agent drift from its phase, round after round

# Words that point at a phase even when its id and name do not contain them.
_PHASE_HINTS: dict[str, tuple[str, ...]] = {
    "requirement": ("requirement", "spec", "clarif", "acceptance", "ambiguous", "scope"),
    "design": ("design", "architect", "interface", "component", "schema"),
    "implement": ("implement", "code", "bug", "exception", "traceback", "compile", "build", "refactor"),
    "test": ("test", "coverage", "assert", "regression", "pytest"),
    "deploy": ("deploy", "release", "merge", "rollout", "production"),
}


@dataclass(frozen=True)
class TicketActivity:
    """What the database says about one ticket that is not done."""

    ticket_id: int
    phase_id: str
    active_tasks: int
    last_activity: datetime
    recent_task_statuses: Sequence[str] = ()  # newest first
    last_failed_phase_id: str | None = None
    gate_failed: bool = False
    gate_phase_id: str | None = None
    gate_reasons: Sequence[str] = ()
    recent_errors: Sequence[str] = ()


@dataclass(frozen=True)
class StuckVerdict:
    ticket_id: int
    trigger: str
    evidence: list[str] = field(default_factory=list)
    recommendation: str = ""


def judge_activity(activity: TicketActivity, now: datetime, *, idle_seconds: float,
                   recent_window: int) -> StuckVerdict | None:
    """Return why ``activity`` shows a stuck ticket, or None when it is progressing.

    A ticket with any active task (pending, claimed, running or under review) is progressing.
    Otherwise it is stuck when its latest gate failed, when its ``recent_window`` latest tasks
    all failed, or when nothing happened for ``idle_seconds``.
    """
    if activity.active_tasks:
        return None
    idle_for = (now - activity.last_activity).total_seconds()
    if activity.gate_failed:
        reasons = list(activity.gate_reasons) or ["the gate failed without reasons"]
        return StuckVerdict(activity.ticket_id, GATE_FAILING,
                            [f"every task is done but the gate of {activity.gate_phase_id} fails"] + reasons,
                            "Produce what the gate is missing: " + "; ".join(reasons))
    recent = list(activity.recent_task_statuses[:recent_window])
    if len(recent) >= recent_window and all(s == "failed" for s in recent):
        errors = [e for e in activity.recent_errors if e][:recent_window]
        return StuckVerdict(activity.ticket_id, TASKS_FAILING,
                            [f"the last {len(recent)} tasks all failed"] + [f"error: {e[:300]}" for e in errors],
                            "Find the common cause of these failures and fix it before retrying the work.")
    if idle_for >= idle_seconds:
        return StuckVerdict(activity.ticket_id, IDLE,
                            [f"no active task for {int(idle_for)}s (threshold {int(idle_seconds)}s)",
                             f"ticket is in {activity.phase_id}"],
                            f"Decide what {activity.phase_id} still needs and queue that work, "
                            "or move the ticket on if the phase is in fact done.")
    return None


def infer_phase_by_keywords(text: str, phases: Sequence[Phase]) -> str | None:
    """The non-terminal phase whose id, name or hint words occur most often in ``text``."""
    words = re.findall(r"[a-z]+", text.lower())
    if not words:
        return None
    best: tuple[int, int, str] | None = None
    for phase in phases:
        if phase.is_terminal:
            continue
        stems = _stems_for(phase)
        hits = sum(1 for w in words if any(w.startswith(s) for s in stems))
        if hits and (best is None or (hits, -phase.sequence_order) > best[:2]):
            best = (hits, -phase.sequence_order, phase.id)
    return best[2] if best else None


def _stems_for(phase: Phase) -> set[str]:
    own = {w for w in re.findall(r"[a-z]+", f"{phase.id} {phase.name}".lower()) if len(w) > 3} - {"phase"}
    stems = {w[:7] for w in own}
    for key, hints in _PHASE_HINTS.items():
        if any(w.startswith(key) for w in own):
            stems.update(hints)
    return stems
