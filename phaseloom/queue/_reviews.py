"""Validation reviews: work in a phase that requires review is judged by a validator first.

A phase opts in with ``configuration.requires_review: true`` (and optionally
``max_review_iterations``, default 3). Completing a task there parks it ``under_review`` and
queues a ``validation`` task in the same phase for an agent with the ``validation``
capability. The validator's verdict (:meth:`ValidationService.submit_review`) either completes
the original task or sends it back to the queue with the feedback; after the allowed number of
failed rounds the task fails for good, and the use-cases wired to
:data:`~phaseloom.domain.reviews.REVIEWS_EXHAUSTED` (phaseloom/services/review_outcomes.py) block
the ticket and diagnose it, in the same transaction. Every state lives in the ``task_reviews`` and
``validation_reviews`` tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from phaseloom.db.models import Agent, Task, TaskReview, ValidationReview
from phaseloom.db.models.base import utcnow
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.domain import phases as d
from phaseloom.domain.diagnosis import VALIDATION_EXHAUSTED, StuckVerdict
from phaseloom.domain.errors import Conflict, InvalidInput, NotFound
from phaseloom.domain.reviews import (
    DEFAULT_MAX_ITERATIONS,
    REVIEWS_EXHAUSTED,
    VALIDATION_TASK,
    VALIDATOR_CAPABILITY,
    VALIDATOR_TASK_TYPES,
    ReviewsExhausted,
)
from phaseloom.domain.tasks import ACTIVE_STATUSES, TaskStatus
from phaseloom.queue._enqueue import TaskEnqueuer
from phaseloom.queue._lifecycle import TaskLifecycle
from phaseloom.queue._results import ResultService

# When a phase holds several reviewed tasks, the phase is only as far along as its least
# advanced task: one task needing work outweighs any number of approvals.
_STATE_ORDER = ("needs_work", "pending", "under_review", "validation_in_progress", "approved")


@dataclass(frozen=True)
class ReviewConfig:
    required: bool
    max_iterations: int


@dataclass(frozen=True)
class ReviewFeedback:
    task_id: int
    state: str
    failed_iterations: int
    max_iterations: int
    feedback: str | None
    history: list[dict]


def review_config(phase: d.Phase) -> ReviewConfig:
    extra = phase.configuration.extra or {}
    return ReviewConfig(required=bool(extra.get("requires_review", False)),
                        max_iterations=max(1, int(extra.get("max_review_iterations", DEFAULT_MAX_ITERATIONS))))


class ValidationService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.lifecycle = TaskLifecycle(uow)

    # -- the queue's hook ----------------------------------------------------------
    def intercept_completion(self, task: Task, result: dict | None) -> bool:
        """Take over completing ``task`` when it needs review; return True when handled.

        Called by :meth:`QueueService.complete_task` inside its transaction. A validator task
        completed with ``{"passed": ...}`` in its result counts as :meth:`submit_review`.
        """
        if task.task_type in VALIDATOR_TASK_TYPES:
            if self._review_for(task.id) is None:
                return False
            if not result or "passed" not in result:
                # Completing without a verdict would leave the reviewed work under review forever.
                raise InvalidInput(f"validation task {task.id} needs a verdict: complete it with "
                                   "'passed' (and 'feedback' when it fails), or submit the review")
            self._review(task, task.assigned_agent_id, bool(result["passed"]),
                         str(result.get("feedback") or ""), result.get("evidence"))
            return True
        phase = workflow_by_id(self.uow, task.workflow_id).phase(task.phase_id)
        config = review_config(phase)
        if not config.required:
            return False
        self._send_to_review(task, result, phase, config)
        return True

    # -- validators --------------------------------------------------------------
    def begin_review(self, validator_task_id: int, agent_id: str) -> ValidationReview:
        """Mark a review as in progress (the validator has started reading)."""
        with self.uow:
            self.lifecycle.owned(validator_task_id, agent_id)
            review = self._require_review(validator_task_id)
            if review.state == "pending":
                review.state = "validation_in_progress"
                if review.task_id is not None:
                    self._task_review(review.task_id).state = "validation_in_progress"
            return review

    def submit_review(self, validator_task_id: int, agent_id: str | None, passed: bool,
                      feedback: str = "", evidence: list | dict | str | None = None) -> ValidationReview:
        """Record a validator's verdict on the work (or result) ``validator_task_id`` reviews.

        Raises :class:`InvalidInput` when ``passed`` is false without feedback, and
        :class:`Conflict` when the agent is not a validator or reviews its own work.
        """
        with self.uow:
            validator_task = self.lifecycle.owned(validator_task_id, agent_id)
            return self._review(validator_task, agent_id, passed, feedback, evidence)

    def call_off_reviews(self, task: Task, reason: str) -> None:
        """Cancel the reviews of ``task`` not given yet: its work is to be done again (its merge failed),
        and no verdict may land on it meanwhile (a validator's submit is refused once cancelled)."""
        open_reviews = select(ValidationReview.validator_task_id).where(
            ValidationReview.task_id == task.id, ValidationReview.reviewed_at.is_(None))
        for validator_task_id in self.uow.session.scalars(open_reviews).all():
            if validator_task_id is not None:
                self.lifecycle.cancel(validator_task_id, reason)

    # -- reading -----------------------------------------------------------------
    def latest_review_state(self, ticket_id: int, phase_id: str) -> str | None:
        """The review state of a ticket's phase, or None when nothing there was reviewed.

        ``approved`` only when every reviewed task of the phase is approved and no work task
        is still waiting for its first review.
        """
        with self.uow:
            session = self.uow.session
            rows = session.scalars(select(TaskReview).where(TaskReview.ticket_id == ticket_id,
                                                            TaskReview.phase_id == phase_id)).all()
            if not rows:
                return None
            states = {self._effective_state(r) for r in rows}
            reviewed = [r.task_id for r in rows]
            unreviewed = session.scalar(
                select(Task.id).where(Task.ticket_id == ticket_id, Task.phase_id == phase_id,
                                      Task.task_type.not_in(VALIDATOR_TASK_TYPES), Task.id.not_in(reviewed),
                                      Task.status.not_in([TaskStatus.CANCELLED.value, TaskStatus.FAILED.value]))
                .limit(1))
            if unreviewed is not None:
                states.add("pending")
            return min(states, key=_STATE_ORDER.index)

    def review_state(self, task_id: int) -> str | None:
        with self.uow:
            row = self.uow.session.get(TaskReview, int(task_id))
            return self._effective_state(row) if row else None

    def feedback_for(self, task_id: int) -> ReviewFeedback | None:
        """What validators said about a task, for the instructions of its next attempt."""
        with self.uow:
            row = self.uow.session.get(TaskReview, int(task_id))
            if row is None:
                return None
            history = [
                {"iteration": r.iteration, "state": r.state, "feedback": r.feedback, "evidence": r.evidence,
                 "validator_agent_id": r.validator_agent_id}
                for r in self.reviews(task_id=task_id)
            ]
            return ReviewFeedback(task_id=row.task_id, state=self._effective_state(row),
                                  failed_iterations=row.failed_iterations, max_iterations=row.max_iterations,
                                  feedback=row.feedback, history=history)

    def reviews(self, *, task_id: int | None = None, ticket_id: int | None = None) -> list[ValidationReview]:
        with self.uow:
            query = select(ValidationReview).order_by(ValidationReview.id)
            if task_id is not None:
                query = query.where(ValidationReview.task_id == task_id)
            if ticket_id is not None:
                query = query.where(ValidationReview.ticket_id == ticket_id)
            return list(self.uow.session.scalars(query))

    # -- internals ---------------------------------------------------------------
    def _send_to_review(self, task: Task, result: dict | None, phase: d.Phase, config: ReviewConfig) -> None:
        session = self.uow.session
        self.lifecycle.park_under_review(task, result)
        state = session.get(TaskReview, task.id)
        if state is None:
            state = TaskReview(task_id=task.id, ticket_id=task.ticket_id, phase_id=task.phase_id,
                               failed_iterations=0, max_iterations=config.max_iterations)
            session.add(state)
        state.state = "under_review"
        iteration = state.failed_iterations + 1
        validator = TaskEnqueuer(self.uow).create_task(
            task.ticket_id, task.phase_id, f"Review: {task.title}"[:500],
            description=_review_context(task, phase, state, iteration), priority=task.priority,
            task_type=VALIDATION_TASK, required_capabilities=[VALIDATOR_CAPABILITY],
            created_by=f"validation:task:{task.id}")
        session.add(ValidationReview(project_id=task.project_id, ticket_id=task.ticket_id, phase_id=task.phase_id,
                                     task_id=task.id, validator_task_id=validator.id, iteration=iteration,
                                     state="pending", feedback="", evidence=[]))
        session.flush()
        self.uow.emit("task.under_review", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                      phase_id=task.phase_id, payload={"validator_task_id": validator.id, "iteration": iteration})

    def _review(self, validator_task: Task, agent_id: str | None, passed: bool, feedback: str,
                evidence: list | dict | str | None) -> ValidationReview:
        review = self._require_review(validator_task.id)
        feedback = (feedback or "").strip()
        if not passed and not feedback:
            raise InvalidInput("feedback is required when the work needs more: say what is missing or wrong")
        self._check_reviewer(review, agent_id)
        review.state = "approved" if passed else "needs_work"
        review.passed = bool(passed)
        review.feedback = feedback
        review.evidence = _as_list(evidence)
        review.validator_agent_id = agent_id
        review.reviewed_at = utcnow()
        self.lifecycle.finish(validator_task, {"passed": bool(passed), "feedback": feedback,
                                               "evidence": review.evidence})
        if review.result_id is not None:
            ResultService(self.uow).on_reviewed(review)
        else:
            self._apply_verdict(review)
        self.uow.emit("validation.reviewed", "task", review.task_id or validator_task.id,
                      project_id=review.project_id, ticket_id=review.ticket_id, phase_id=review.phase_id,
                      payload={"validator_task_id": validator_task.id, "task_id": review.task_id,
                               "result_id": review.result_id, "passed": bool(passed), "state": review.state,
                               "iteration": review.iteration, "feedback": feedback[:500],
                               "agent_id": agent_id})
        self.uow.session.flush()
        return review

    def _check_reviewer(self, review: ValidationReview, agent_id: str | None) -> None:
        if agent_id is None:
            return
        agent = self.uow.session.get(Agent, agent_id)
        if agent is None:
            raise NotFound("agent", agent_id)
        if agent.agent_type != "validator" and VALIDATOR_CAPABILITY not in (agent.capabilities or []):
            raise Conflict(f"agent {agent_id} is not a validator (type {agent.agent_type!r}, "
                           f"no {VALIDATOR_CAPABILITY!r} capability)")
        if review.task_id is not None:
            worker = self.uow.session.scalar(select(Task.assigned_agent_id).where(Task.id == review.task_id))
            if worker == agent_id:
                raise Conflict(f"agent {agent_id} did the work of task {review.task_id} and cannot review it")

    def _apply_verdict(self, review: ValidationReview) -> None:
        session = self.uow.session
        task = session.scalar(select(Task).where(Task.id == review.task_id).with_for_update())
        state = self._task_review(task.id)
        if review.passed:
            state.state = "approved"
            self.lifecycle.finish(task, task.result)
            return
        state.failed_iterations += 1
        state.feedback = review.feedback
        state.state = "needs_work"
        if state.failed_iterations >= state.max_iterations:
            self._give_up(task, state)
            return
        self.lifecycle.requeue(task)
        self.uow.emit("task.requeued", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                      phase_id=task.phase_id, payload={"reason": "needs_work", "feedback": review.feedback[:500],
                                                       "failed_iterations": state.failed_iterations})

    def _give_up(self, task: Task, state: TaskReview) -> None:
        reason = (f"validation of task {task.id} failed {state.failed_iterations} time(s); "
                  f"last feedback: {state.feedback}")
        self.lifecycle.fail_for_good(task, reason)
        verdict = StuckVerdict(task.ticket_id, VALIDATION_EXHAUSTED,
                               [reason, f"task {task.id} ({task.title}) in {task.phase_id}"],
                               "Read the review feedback, fix what the validator keeps rejecting "
                               "(or the review criteria if they are wrong), then unblock the ticket.")
        # What becomes of the ticket (blocked, diagnosed) is the use-cases' (services/review_outcomes.py).
        self.uow.react(REVIEWS_EXHAUSTED, ReviewsExhausted(task.id, task.ticket_id, task.phase_id, reason, verdict))

    def _effective_state(self, row: TaskReview) -> str:
        if row.state != "under_review":
            return row.state
        open_review = self.uow.session.execute(
            select(ValidationReview.state, Task.status)
            .join(Task, Task.id == ValidationReview.validator_task_id)
            .where(ValidationReview.task_id == row.task_id, ValidationReview.reviewed_at.is_(None))
            .order_by(ValidationReview.id.desc()).limit(1)).first()
        if open_review and (open_review[0] == "validation_in_progress"
                            or open_review[1] in [s.value for s in ACTIVE_STATUSES]):
            return "validation_in_progress"
        return row.state

    def _task_review(self, task_id: int) -> TaskReview:
        row = self.uow.session.get(TaskReview, task_id)
        if row is None:
            raise NotFound("review state of task", task_id)
        return row

    def _review_for(self, validator_task_id: int) -> ValidationReview | None:
        return self.uow.session.scalar(
            select(ValidationReview).where(ValidationReview.validator_task_id == validator_task_id))

    def _require_review(self, validator_task_id: int) -> ValidationReview:
        review = self._review_for(validator_task_id)
        if review is None:
            raise InvalidInput(f"task {validator_task_id} is not a validation task")
        if review.reviewed_at is not None:
            raise Conflict(f"task {validator_task_id} was already reviewed ({review.state})")
        return review


def _review_context(task: Task, phase: d.Phase, state: TaskReview, iteration: int) -> str:
    lines = [f"Review the work of task {task.id} \"{task.title}\" in {phase.name} "
             f"(review {iteration} of at most {state.max_iterations}).", ""]
    if task.description:
        lines += ["The task asked for:", task.description, ""]
    if phase.done_definitions:
        lines += ["The phase is done when:"] + [f"- {item}" for item in phase.done_definitions] + [""]
    lines += ["The worker reported:", json.dumps(task.result or {}, indent=2, default=str)[:4000], ""]
    if state.feedback:
        lines += ["Earlier feedback it had to address:", state.feedback, ""]
    lines.append("Approve it, or reject it with feedback saying exactly what is missing, plus your evidence.")
    return "\n".join(lines)


def _as_list(evidence: list | dict | str | None) -> list:
    if evidence is None:
        return []
    return list(evidence) if isinstance(evidence, (list, tuple)) else [evidence]
