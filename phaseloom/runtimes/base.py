"""The one small interface every runtime implements, and how an outcome reaches the queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from phaseloom.domain.costs import UsageReport
from phaseloom.domain.resources import ResourceUsage
from phaseloom.domain.tasks import ACTIVE_STATUSES
from phaseloom.services.unit_of_work import UnitOfWork

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
    # Called now and then while the agent works, so the task's lease does not run out.
    on_tick: Callable[[], None] | None = None

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

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": self.summary, "artifacts": list(self.artifacts)}
        if self.exit_code is not None:
            out["exit_code"] = self.exit_code
        if self.usage:
            out["usage"] = dict(self.usage)
        return out


class Runtime(Protocol):
    name: str

    def run(self, assignment: Assignment) -> RunOutcome: ...


def settle(uow: UnitOfWork, assignment: Assignment, outcome: RunOutcome) -> RunOutcome:
    """Apply a run's outcome to its task, unless the agent already reported through the API/MCP.

    What the agent reported wins: a task no longer claimed or running is left as it is.
    """
    from phaseloom.services.queue import QueueService

    with uow:
        queue = QueueService(uow)
        task = queue.get(assignment.task_id)
        if outcome.usage_reports:  # what the run cost counts however the task ends
            from phaseloom.services.costs import CostService

            CostService(uow).record_reports(task.id, assignment.agent_id, outcome.usage_reports)
        if outcome.resources is not None:
            from phaseloom.services.baselines import BaselineService

            BaselineService(uow).record_resources(task.id, assignment.agent_id, assignment.attempt, outcome.resources)
        if task.status not in _ACTIVE:
            outcome.reported_by_agent = True
            outcome.final_status = task.status
            return outcome
        if outcome.completed:
            previous_error, attempts_failed = task.error, task.retry_count
            task = queue.complete_task(task.id, assignment.agent_id, outcome.result())
            from phaseloom.services.memory import remember_completed_task

            remember_completed_task(uow, task, outcome.summary, agent_id=assignment.agent_id,
                                    previous_error=previous_error, attempts_failed=attempts_failed)
        else:
            error = f"{outcome.error_class or 'failed'}: {outcome.error or 'the agent failed'}"
            task = queue.fail_task(task.id, assignment.agent_id, error, retryable=outcome.retryable)
        if outcome.usage:
            uow.emit("task.usage", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                     phase_id=task.phase_id, payload={"agent_id": assignment.agent_id, **outcome.usage})
        outcome.final_status = task.status
        return outcome
