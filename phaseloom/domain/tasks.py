"""Task states and the retry backoff rule."""

from __future__ import annotations

import enum
import random


class TaskStatus(str, enum.Enum):
    PENDING = "pending"
    CLAIMED = "claimed"
    RUNNING = "running"
    UNDER_REVIEW = "under_review"
    # Its agent asked a person a question (ask_human): no agent holds it until the answer requeues it.
    WAITING_INPUT = "waiting_input"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


ACTIVE_STATUSES = (TaskStatus.CLAIMED, TaskStatus.RUNNING)
# What an agent's own complete_task leaves its task in while its worker may not have merged the work yet.
MERGE_HOLDING_STATUSES = (TaskStatus.COMPLETED.value, TaskStatus.UNDER_REVIEW.value)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): full-jitter exponential.

    The delay is drawn uniformly from ``[exp/2, exp]`` where ``exp = min(cap, base * 2**(attempt-1))``,
    so it never exceeds ``cap`` and never collapses to zero (which would hammer a rate-limited API).
    """
    if attempt < 1:
        return 0.0
    exp = min(cap, base * (2 ** min(attempt - 1, 62)))
    draw = (rng or random).uniform(0.5, 1.0)
    return exp * draw


HEARTBEAT_CEILING_SECONDS = 10.0


def heartbeat_interval(lease_seconds: float, ceiling: float = HEARTBEAT_CEILING_SECONDS) -> float:
    """How often a running task's lease is renewed: at most a third of the lease (so two beats may be
    missed before it expires), and no more often than needed (``ceiling``) for long leases."""
    return max(0.0, min(ceiling, lease_seconds / 3))
