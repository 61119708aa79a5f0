"""The task queue and the lifecycle of a task, below the use-cases (phaseloom.services) and over the database.

A task moves through these states, each move made in one place (:mod:`._lifecycle`):

- ``pending`` — created by :class:`TaskEnqueuer` (or sent back: a retryable failure with its
  backoff, a lapsed lease, a rate limit, a review asking for more work, a retry by hand, its agent
  going away); claimable once the tasks it depends on completed.
- ``claimed`` — by one agent, for a lease it renews with heartbeats (:meth:`QueueService.claim_next_task`).
- ``running`` — its agent started it; back here when its reported work could not be merged.
- ``waiting_input`` — its agent asked a person (``ask_human``, :class:`InputRequests`): no agent or lease;
  the answer sends it back to ``pending``, a question unanswered past its phase's timeout fails it.
- ``under_review`` — its phase requires review: a validator's verdict (:class:`ValidationService`)
  completes it or sends it back to ``pending``; after the last allowed rejection it fails.
- ``completed`` / ``failed`` / ``cancelled`` — final; completing releases the tasks waiting on
  it, a failed or cancelled task may be retried by hand (:class:`RetryService`).

What the use-cases do when a task's reviews are exhausted (block its ticket, diagnose it) is wired
to :data:`phaseloom.domain.reviews.REVIEWS_EXHAUSTED` (:meth:`UnitOfWork.react`): this package
imports nothing from phaseloom.services or the edges.
"""

from phaseloom.queue._enqueue import TaskEnqueuer
from phaseloom.queue._input import InputRequests, UnansweredQuestion
from phaseloom.queue._lifecycle import TaskLifecycle
from phaseloom.queue._results import ResultService
from phaseloom.queue._retries import DeadLetter, RetryService
from phaseloom.queue._reviews import ReviewConfig, ReviewFeedback, ValidationService, review_config
from phaseloom.queue._service import QueueService
from phaseloom.queue._statements import HELD_FOR_MERGE

__all__ = ["HELD_FOR_MERGE", "DeadLetter", "InputRequests", "QueueService", "ResultService", "RetryService", "ReviewConfig",
           "ReviewFeedback", "TaskEnqueuer", "TaskLifecycle", "UnansweredQuestion", "ValidationService",
           "review_config"]
