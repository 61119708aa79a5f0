"""The one small interface every runtime implements, and how an outcome reaches the queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from phaseloom.config import Settings
from phaseloom.domain.costs import UsageReport
from phaseloom.domain.failures import FailureClass
from phaseloom.domain.permissions import DEFAULT_PERMISSIONS, Permissions
from phaseloom.domain.resources import ResourceUsage
from phaseloom.domain.tasks import ACTIVE_STATUSES, MERGE_HOLDING_STATUSES
from phaseloom.db.unit_of_work import UnitOfWork

_ACTIVE = {s.value for s in ACTIVE_STATUSES}


@dataclass
class Assignment:
    """One task handed to one agent, with everything a runtime needs to run it."""

    task_id: int
    agent_id: str
    ticket_id: int
    phase_id: str
    workdir: Path
    instructions: str
    log_path: Path
    timeout_seconds: float = 1800.0
    agent_token: str = ""
    api_url: str = ""
    mcp_url: str = ""
    attempt: int = 1
    task_type: str = "work"
    options: dict[str, Any] = field(default_factory=dict)
    # The database the agent's own ``phaseloom mcp`` (stdio) opens: absolute, whatever the cwd.
    database_url: str = ""
    # The orchestrator's settings that server runs with, as PHASELOOM_* variables (config.server_environment).
    server_settings: dict[str, str] = field(default_factory=dict)
    # Whether the phase declares outputs: an agent without MCP must then have changed its worktree.
    expects_outputs: bool = True
    # What the phase lets the agent change; a preset turns it into its CLI's own controls.
    permissions: Permissions = DEFAULT_PERMISSIONS
    # Variables (names or globs) a preset's CLI gets from the orchestrator's environment besides its
    # preset's own (the ``agent_env`` setting, e.g. ``AWS_*`` for a provider reached through Bedrock).
    agent_env: tuple[str, ...] = ()
    # Called every ``tick_seconds`` while the agent works, so the task's lease does not run out.
    on_tick: Callable[[], None] | None = None
    tick_seconds: float = 10.0
    # Called when the agent's stream shows something new: (activity, session id).
    on_activity: Callable[[str | None, str | None], None] | None = None
    # Resume this CLI session with ``resume_message`` as its next message (a person's answer to the
    # agent's question), for runtimes that can (CommandRuntime.resumes_sessions); None: a fresh run.
    resume_session_id: str | None = None
    resume_message: str = ""

    def environment(self) -> dict[str, str]:
        """The variables an external agent uses to reach phaseloom."""
        return {"PHASELOOM_API_URL": self.api_url, "PHASELOOM_MCP_URL": self.mcp_url,
                "PHASELOOM_TASK_ID": str(self.task_id), "PHASELOOM_TICKET_ID": str(self.ticket_id),
                "PHASELOOM_PHASE_ID": self.phase_id, "PHASELOOM_AGENT_ID": self.agent_id,
                "PHASELOOM_AGENT_TOKEN": self.agent_token}


@dataclass
class RunOutcome:
    """How a run ended. ``error_class`` says why a failed run failed (timeout, exit_code, not_found…)."""

    completed: bool
    summary: str = ""
    error: str | None = None
    error_class: str | None = None
    retryable: bool | None = None  # None: let the queue classify the error by the workflow's patterns
    exit_code: int | None = None
    artifacts: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    # Priced into cost records by settle() (see phaseloom.domain.costs for the line agents print).
    usage_reports: list[UsageReport] = field(default_factory=list)
    # CPU time and peak memory of the agent's process, for runtimes that run one (stored by settle()).
    resources: ResourceUsage | None = None
    reported_by_agent: bool = False
    final_status: str | None = None
    # The agent has an MCP client, so only its own complete_task/fail_task may finish the task:
    # an exit without one is a failure (agent_did_not_report), whatever the exit code said.
    needs_agent_report: bool = False
    session_id: str | None = None
    # A rate limit gives the task back without spending a retry, not before this many seconds.
    rate_limited: bool = False
    retry_after_seconds: float | None = None
    # What the runtime's own ``git status`` saw when the agent had ended (None: not looked), so the
    # commit that follows need not ask again.
    uncommitted_changes: bool | None = None

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": self.summary, "artifacts": list(self.artifacts)}
        if self.exit_code is not None:
            out["exit_code"] = self.exit_code
        if self.usage:
            out["usage"] = dict(self.usage)
        return out


DID_NOT_REPORT = "agent_did_not_report"
# The agent's work is committed on its branch, but git would not merge it into the ticket's (nothing
# conflicting): a retryable failure, even after the agent's own complete_task.
MERGE_FAILED = "merge_failed"
# The agent changed files its phase's permissions do not allow (a read_only phase wrote outside its
# declared outputs): the changes are reverted and the task fails for good, even after its complete_task.
OUT_OF_BOUNDS = "out_of_bounds"


def require_report(outcome: RunOutcome, reported: bool) -> RunOutcome:
    """An MCP agent that ended without reporting has failed, with its last output as the evidence."""
    if not outcome.completed or not outcome.needs_agent_report or reported:
        return outcome
    tail = (outcome.summary or "").strip()[-800:]
    outcome.completed = False
    outcome.error_class = DID_NOT_REPORT
    outcome.error = ("the agent exited without calling complete_task or fail_task (phaseloom's MCP tools), so "
                     f"its work is not accepted; last output: {tail or '(none)'}")
    outcome.retryable = True
    return outcome


class Runtime(Protocol):
    name: str

    def run(self, assignment: Assignment) -> RunOutcome: ...


def settle(uow: UnitOfWork, assignment: Assignment, outcome: RunOutcome, settings: Settings) -> RunOutcome:
    """Apply a run's outcome to its task, unless the agent already reported through the API/MCP.

    ``settings``: the pricing of the usage the run reported.

    What the agent reported wins: a task no longer claimed or running is left as it is.
    """
    from phaseloom.queue import QueueService

    with uow:
        queue = QueueService(uow)
        task = queue.get(assignment.task_id)
        if outcome.usage_reports:  # what the run cost counts however the task ends
            from phaseloom.services.costs import CostService

            CostService(uow, settings).record_reports(task.id, assignment.agent_id, outcome.usage_reports)
        if outcome.resources is not None:
            from phaseloom.services.baselines import BaselineService

            BaselineService(uow).record_resources(task.id, assignment.agent_id, assignment.attempt, outcome.resources)
        if outcome.session_id and outcome.session_id != task.session_id:
            queue.note_activity(task.id, session_id=outcome.session_id)
        if task.status not in _ACTIVE:
            return _settle_reported(uow, task, assignment, outcome)
        queue.merged(task.id)  # the caller merged what there was to merge before settling
        outcome = require_report(outcome, reported=False)
        if outcome.rate_limited:
            task = queue.release_rate_limited(task.id, assignment.agent_id, outcome.error or "rate limited",
                                              outcome.retry_after_seconds)
        elif outcome.completed:
            previous_error, attempts_failed = task.error, task.retry_count
            task = queue.complete_task(task.id, assignment.agent_id, outcome.result())
            from phaseloom.services.memory import remember_completed_task

            remember_completed_task(uow, task, outcome.summary, agent_id=assignment.agent_id,
                                    previous_error=previous_error, attempts_failed=attempts_failed)
        else:
            task = queue.fail_task(task.id, assignment.agent_id, _failure(outcome), retryable=outcome.retryable)
        if outcome.usage:
            uow.emit("task.usage", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                     phase_id=task.phase_id, payload={"agent_id": assignment.agent_id, **outcome.usage})
        outcome.final_status = task.status
        return outcome


def _settle_reported(uow: UnitOfWork, task, assignment: Assignment, outcome: RunOutcome) -> RunOutcome:
    """The agent reported already: its report stands, unless its work could not be merged (then the
    task is failed for a retry as if it had not reported; see RetryService.fail_unmerged) or broke its
    phase's permissions (then it is failed for good)."""
    from phaseloom.queue import QueueService
    from phaseloom.queue import RetryService

    outcome.reported_by_agent = True
    if outcome.error_class == MERGE_FAILED and task.awaiting_merge and task.status in MERGE_HOLDING_STATUSES:
        task = RetryService(uow).fail_unmerged(task.id, assignment.agent_id, _failure(outcome))
    elif outcome.error_class == OUT_OF_BOUNDS and task.status in MERGE_HOLDING_STATUSES:
        task = RetryService(uow).fail_unmerged(task.id, assignment.agent_id, _failure(outcome),
                                               failure_class=FailureClass.PERMANENT)
    else:
        QueueService(uow).merged(task.id)  # the caller merged what there was to merge before settling
    outcome.final_status = task.status
    return outcome


def _failure(outcome: RunOutcome) -> str:
    """A failed run's error as the task records it: its class first."""
    return f"{outcome.error_class or 'failed'}: {outcome.error or 'the agent failed'}"
