"""Task priority and the claim score.

The queue hands out the pending task with the highest score. A task's score is its
priority weight plus one priority level per ``aging_seconds`` it has waited::

    score(now) = weight(priority) + (now - created) / aging_seconds

Every task ages at the same rate, so ordering by ``score(now)`` is the same as ordering by
the time-independent ``weight(priority) - created / aging_seconds``. That value is stored
in an indexed column when the task is queued, and a claim is an index scan, not a sort of
the queue. With the default ``aging_seconds`` of 600, a LOW task that has waited 30 minutes
outranks a CRITICAL task queued just now: nothing starves.
"""

from __future__ import annotations

import enum

DEFAULT_AGING_SECONDS = 600.0


class Priority(str, enum.Enum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"

    @property
    def weight(self) -> int:
        return _WEIGHTS[self]

    def boosted(self, levels: int = 1) -> "Priority":
        """The priority ``levels`` steps higher, capped at CRITICAL."""
        order = [Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.CRITICAL]
        index = min(order.index(self) + max(levels, 0), len(order) - 1)
        return order[index]

    @classmethod
    def parse(cls, value: "str | Priority") -> "Priority":
        from phaseloom.domain.errors import InvalidInput

        try:
            return cls(str(value.value if isinstance(value, Priority) else value).upper())
        except ValueError:
            names = ", ".join(p.value for p in cls)
            raise InvalidInput(f"unknown priority {value!r}; expected one of {names}") from None


_WEIGHTS = {Priority.CRITICAL: 4, Priority.HIGH: 3, Priority.MEDIUM: 2, Priority.LOW: 1}


def claim_score(priority: Priority, created_epoch: float, aging_seconds: float = DEFAULT_AGING_SECONDS) -> float:
    """The stored, time-independent score; higher is claimed first."""
    return priority.weight - created_epoch / aging_seconds


def effective_score(
    priority: Priority, created_epoch: float, now_epoch: float, aging_seconds: float = DEFAULT_AGING_SECONDS
) -> float:
    """The score a task has at ``now``; orders exactly like :func:`claim_score`."""
    return priority.weight + (now_epoch - created_epoch) / aging_seconds
