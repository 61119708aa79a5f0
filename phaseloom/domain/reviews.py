"""Reviews of work by validators: the task types, the capability, and what giving up on a task says.

A phase with ``configuration.requires_review`` has its work judged by a ``validation`` task; a
workflow result (``has_result``) is judged by a ``result_validation`` task. Both are claimed by
agents with the ``validation`` capability (phaseloom/queue/_reviews.py, _results.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from phaseloom.domain.diagnosis import StuckVerdict

VALIDATION_TASK = "validation"
RESULT_VALIDATION_TASK = "result_validation"
VALIDATOR_TASK_TYPES = (VALIDATION_TASK, RESULT_VALIDATION_TASK)
VALIDATOR_CAPABILITY = "validation"
DEFAULT_MAX_ITERATIONS = 3

# The reaction (UnitOfWork.react) to work that failed every review it was allowed: the task has
# failed for good; what the use-cases do about its ticket (block it, diagnose it) is theirs.
REVIEWS_EXHAUSTED = "reviews_exhausted"


@dataclass(frozen=True)
class ReviewsExhausted:
    """The work of ``task_id`` failed its last allowed review; ``verdict`` is the diagnosis to record."""

    task_id: int
    ticket_id: int
    phase_id: str
    reason: str
    verdict: StuckVerdict
