"""A rate-limited run handed to another runtime at once (``fallback_runtime``), with what it had done.

A workflow (``settings: {fallback_runtime: "command:codex"}``) or a phase (``configuration:
{fallback_runtime: …}``) may name a runtime to take over a task whose run ended on a rate or usage
limit: the same claim, the same worktree (what the first agent changed is still there), and its
instructions followed by a summary of the attempt so far. Without one, the task goes back to the queue
with no retry spent and the pool pauses (``services/pool_pauses``). The fallback runs once per run; if
it is rate-limited too, that is the run's outcome.
"""

from __future__ import annotations

from dataclasses import replace

from phaseloom.runtimes.base import Assignment, RunOutcome, Runtime

SETTING = "fallback_runtime"
MAX_FILES_LISTED = 30


def configured_fallback(workflow, phase_id: str) -> Runtime | None:
    """The fallback runtime the workflow declares for ``phase_id`` (the phase's own wins), or None."""
    from phaseloom.orchestrator.runtimes import runtime_from_setting

    setting = workflow.phase(phase_id).configuration.extra.get(SETTING) or workflow.settings.get(SETTING)
    return runtime_from_setting(setting) if setting else None


def runtime_label(runtime: Runtime) -> str:
    preset = getattr(runtime, "preset", None)
    return f"command:{preset.name}" if preset is not None else getattr(runtime, "name", type(runtime).__name__)


def attempt_summary(first: Runtime, outcome: RunOutcome, changed: list[str]) -> str:
    """What the fallback is told of the run it takes over."""
    files = ", ".join(changed[:MAX_FILES_LISTED]) + (f" and {len(changed) - MAX_FILES_LISTED} more"
                                                     if len(changed) > MAX_FILES_LISTED else "")
    lines = ["## The attempt so far", "",
             f"Another agent ({runtime_label(first)}) started this task and stopped at a rate limit: "
             f"{(outcome.error or 'rate limited').strip()[:500]}",
             f"Its last words: {outcome.summary.strip()[:1500]}" if outcome.summary.strip() else "It said nothing.",
             f"Files it changed, left in your worktree: {files}." if changed else "It changed no file.",
             "Carry on from there: check what it did, then finish the task."]
    return "\n".join(lines)


def fallback_assignment(assignment: Assignment, summary: str) -> Assignment:
    """The same task and worktree, the instructions followed by ``summary``; a fresh session."""
    return replace(assignment, instructions=f"{assignment.instructions}\n\n{summary}\n", resume_session_id=None,
                   resume_message="")


def hand_over(uow, task, first: Runtime, fallback: Runtime, assignment: Assignment, base: str | None,
              outcome: RunOutcome, run) -> RunOutcome:
    """Run ``fallback`` on the task ``first`` left at a rate limit (``run``: the executor's guarded run);
    its outcome, with the first run's usage still counted. ``uow``: a unit-of-work factory."""
    from phaseloom.db.retry import call_with_retry
    from phaseloom.workspaces import changed_since

    changed = changed_since(assignment.workdir, base) if base else []

    def record() -> None:
        with uow() as u:
            u.emit("task.fallback_runtime", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                   phase_id=task.phase_id, payload={"agent_id": assignment.agent_id, "from": runtime_label(first),
                                                    "to": runtime_label(fallback), "error": (outcome.error or "")[:500],
                                                    "changed_files": changed[:MAX_FILES_LISTED]})

    call_with_retry(record, what="recording a fallback runtime")
    taken = run(fallback, fallback_assignment(assignment, attempt_summary(first, outcome, changed)))
    taken.usage_reports = [*outcome.usage_reports, *taken.usage_reports]
    return taken
