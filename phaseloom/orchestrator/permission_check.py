"""Holding an agent to its phase's permissions once it has ended: refused changes are reverted.

The CLI's own controls (``runtimes/presets``) should have stopped the writes already; this check is
what a phase can rely on whatever the runtime (a custom command, a CLI without a sandbox).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from phaseloom.db.retry import call_with_retry
from phaseloom.domain.permissions import Permissions, out_of_bounds
from phaseloom.domain.phases import Phase
from phaseloom.runtimes.base import OUT_OF_BOUNDS, RunOutcome
from phaseloom.workspaces import changed_since, revert_paths, take_snapshot

if TYPE_CHECKING:
    from collections.abc import Callable

    from phaseloom.db.models import Task
    from phaseloom.db.unit_of_work import UnitOfWork
    from phaseloom.workspaces import Workspace

MAX_LISTED = 50  # files named in the task's error; the event has them all


def hold_to_permissions(phase: Phase, task_id: int, workdir: Path, base: str | None,
                        outcome: RunOutcome) -> tuple[RunOutcome, list[str]]:
    """``outcome``, or a permanent failure naming the files the phase did not allow (now reverted, after
    a snapshot of the whole worktree), and those files. ``base``: the worktree's commit when the agent
    started (None: not a git worktree)."""
    if base is None or phase.permissions is not Permissions.READ_ONLY:
        return outcome, []
    outputs = tuple(o.pattern for o in phase.expected_outputs)
    refused = out_of_bounds(phase.permissions, changed_since(workdir, base), outputs)
    if not refused:
        return outcome, []
    take_snapshot(workdir, task_id, "changes refused by the phase's permissions")  # reverted, never lost
    revert_paths(workdir, base, refused)
    listed = ", ".join(refused[:MAX_LISTED]) + (f" and {len(refused) - MAX_LISTED} more" if len(refused) > MAX_LISTED else "")
    allowed = f"only its declared outputs ({', '.join(outputs)})" if outputs else "no file at all"
    error = (f"phase {phase.id} is read_only and allows {allowed}; the agent changed {len(refused)} other "
             f"file(s), reverted: {listed}")
    return RunOutcome(False, summary=outcome.summary, error=error, error_class=OUT_OF_BOUNDS, retryable=False,
                      exit_code=outcome.exit_code, usage_reports=outcome.usage_reports, resources=outcome.resources,
                      session_id=outcome.session_id), refused


def hold_worktree_to_permissions(uow: Callable[[], UnitOfWork], task: Task, phase: Phase, workspace: Workspace,
                                 base: str | None, outcome: RunOutcome) -> RunOutcome:
    """:func:`hold_to_permissions` on the agent's worktree; refused files are also a ``task.changes_refused``
    event (written with retries: the agent has ended, and a database blip must not lose its outcome)."""
    outcome, refused = hold_to_permissions(phase, task.id, workspace.path, base, outcome)
    if refused:
        def record() -> None:
            with uow() as u:
                u.emit("task.changes_refused", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                       phase_id=task.phase_id, payload={"agent_id": workspace.agent_id, "files": refused})

        call_with_retry(record, what="recording refused changes")
    return outcome
