"""Running one claimed task end to end: workspace, instructions, runtime, merge, outcome, progress."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from phaseloom.config import server_environment
from phaseloom.db.engine import Database, absolute_url
from phaseloom.db.retry import call_with_retry, is_transient
from phaseloom.db.models import Project, Task
from phaseloom.domain.environments import split_names
from phaseloom.domain.errors import PhaseloomError, TaskNotClaimable
from phaseloom.domain.phases import Phase
from phaseloom.domain.tasks import MERGE_HOLDING_STATUSES, TaskStatus, heartbeat_interval
from phaseloom.orchestrator import leases, resume
from phaseloom.orchestrator.fallback import configured_fallback, hand_over
from phaseloom.orchestrator.permission_check import hold_worktree_to_permissions
from phaseloom.runtimes.base import MERGE_FAILED, OUT_OF_BOUNDS, Assignment, RunOutcome, Runtime, require_report, settle
from phaseloom.services.agents import AgentService
from phaseloom.services.instructions import InstructionService
from phaseloom.queue import QueueService
from phaseloom.queue import RetryService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.workspaces import Retention, Workspace, WorkspaceService, WorktreeKeeper, git_files

if TYPE_CHECKING:
    from phaseloom.orchestrator.config import OrchestratorConfig

log = logging.getLogger(__name__)


def record_integration_issue(uow: UnitOfWork, ws: Workspace, description: str) -> int | None:
    """The ``integration_issue`` discovery a conflicting merge leaves (see ``WorkspaceService``)."""
    from phaseloom.services.discovery import DiscoveryService

    found = DiscoveryService(uow).record_discovery(ws.task_id, "integration_issue", description,
                                                   ticket_id=ws.ticket_id)
    return getattr(found, "id", None)


class TaskExecutor:
    def __init__(self, db: Database, config: "OrchestratorConfig") -> None:
        self.db = db
        self.config = config
        self._last_cleanup = float("-inf")

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, settings=self.config.settings)

    def workspaces(self) -> WorkspaceService:
        root = self.config.workspace_root or self.config.settings.workspaces_home
        return WorkspaceService(self.uow(), root=root,
                                report_conflict=record_integration_issue)

    def keeper(self) -> WorktreeKeeper:
        return WorktreeKeeper(self.uow(), root=self.config.workspace_root or self.config.settings.workspaces_home)

    def save_abandoned(self, tasks: dict[int, str | None], reason: str) -> None:
        """Snapshot, then make clean, the worktrees here of tasks whose agents are known to be ended
        (task id -> the agent just ended, None when it was not this process that ended it)."""
        for task_id, ended_agent in sorted(tasks.items()):
            try:
                self.keeper().save_abandoned(task_id, reason, ended_agent=ended_agent)
            except Exception:  # noqa: BLE001 - a worktree that cannot be saved is left as it is, not lost
                log.exception("the worktrees of task %s could not be saved", task_id)

    def clean_finished_worktrees(self) -> None:
        """Remove the worktrees of finished tasks on the ``workspace_retention`` policy (once a minute at most:
        a look lists the folders and asks the database about them)."""
        if time.monotonic() - self._last_cleanup < 60:
            return
        self._last_cleanup = time.monotonic()
        try:
            self.keeper().clean_finished(Retention.parse(self.config.settings.workspace_retention))
        except Exception:  # noqa: BLE001 - housekeeping of folders must not stop the loop
            log.exception("cleaning the worktrees of finished tasks failed")

    def integration_path(self, project_id: int, ticket_id: int) -> Path | None:
        with UnitOfWork(self.db, readonly=True) as uow:
            repo = uow.session.get(Project, project_id).repo_path
        return self.workspaces().integration_worktree(repo, ticket_id) if repo else None

    def execute(self, task_id: int, agent_id: str, runtime: Runtime) -> RunOutcome:
        """Run ``task_id`` (already claimed by ``agent_id``) and apply the outcome."""
        try:
            return self._execute(task_id, agent_id, runtime)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # The database went away mid-task: hand the task back as soon as it returns, rather
            # than leave it claimed until its lease runs out.
            error = f"database connection lost during the task: {str(exc).splitlines()[0][:200]}"
            try:
                call_with_retry(lambda: QueueService(self.uow()).fail_task(task_id, agent_id, error, retryable=True),
                                what="returning a task")
            except PhaseloomError:  # already settled, or already taken back by the lease reaper
                self._hand_over_merge(task_id)
            return RunOutcome(False, error=error, error_class="database")

    def _hand_over_merge(self, task_id: int) -> None:
        """A task its agent reported done before the database went away still holds its ticket for the
        merge of its work: the housekeeping merges it (a completed task has no lease that would run out)."""
        if call_with_retry(lambda: QueueService(self.uow()).hand_over_merge(task_id), what="handing over a merge"):
            log.warning("task %s: its reported work is left for the housekeeping to merge", task_id)

    def _execute(self, task_id: int, agent_id: str, runtime: Runtime) -> RunOutcome:
        task = call_with_retry(lambda: QueueService(self.uow()).start_task(task_id, agent_id, merge_after=True),
                               what="starting a task")
        try:
            runtime = self._runtime_for(task, runtime)
            resumption = resume.plan(self.uow(), task, bool(getattr(runtime, "resumes_sessions", False)))
            # Read before the agent starts: between its end and the read of its report (retried) nothing
            # may touch the database unguarded, or a restart there drops work it has reported done.
            phase, fallback = self._phase(task)
            workspace, workdir, briefing = self._workspace_and_briefing(task, agent_id, resumption)
            assignment = self._assignment(task, agent_id, workdir, briefing, phase, resumption)
            base = git_files.head_commit(workdir) if workspace is not None else None
            outcome = _run_safely(runtime, assignment)
            if outcome.rate_limited and fallback is not None:  # another runtime takes it over at once
                outcome = hand_over(self.uow, task, runtime, fallback, assignment, base, outcome, _run_safely)
            if workspace is not None:
                outcome = hold_worktree_to_permissions(self.uow, task, phase, workspace, base, outcome)
        except PhaseloomError as exc:  # e.g. the repository is unusable: a failure the queue can retry
            workspace, assignment = None, None
            outcome = RunOutcome(False, error=str(exc), error_class="workspace")
        # Retried: a database blip here took the path that hands the task back, which its agent had
        # completed already, and the work it had just done was never merged.
        reported, status = call_with_retry(lambda: _agent_report(self.db, task_id), what="reading the agent's report")
        waiting = status == TaskStatus.WAITING_INPUT.value
        outcome = _asked_a_person(outcome) if waiting else require_report(outcome, reported is not None)
        if reported:  # the agent's own words, never the runtime's
            outcome.summary = reported
        if waiting and workspace is not None:  # kept on its branch for the run that resumes it
            self.workspaces().commit(workspace, f"Work on task {task_id} so far (waiting for an answer)")
        elif workspace is not None and outcome.error_class != OUT_OF_BOUNDS and (outcome.completed or reported is not None):
            # One retried step: a database blip after git merged is met by the merge being found
            # done and its record written, not by failing the task and running its agent again.
            ran = outcome
            merge = call_with_retry(lambda: self.workspaces().integrate(workspace, summary=_subject(ran.summary),
                                                                        dirty=ran.uncommitted_changes),
                                    what="merging a task's work")
            if merge.error is not None:  # not merged, nothing conflicting: try the task again
                outcome = _merge_failed(outcome, workspace, merge.error)
            else:
                outcome.summary += "" if merge.merged else f" (merge conflict in {', '.join(merge.conflicts)})"
        elif workspace is not None:
            self.workspaces().commit(workspace, f"Partial work on task {task_id} (attempt failed)")
        if workspace is not None and not outcome.completed:  # its retry declares the files this attempt changed
            changed = self.workspaces().changed_files(workspace)
            call_with_retry(lambda: QueueService(self.uow()).inherit_changed_files(task_id, changed),
                            what="declaring a failed attempt's files")
        # The work is done: losing its outcome to a database restart would make it run again.
        ran = outcome
        outcome = call_with_retry(lambda: self._settle(task, agent_id, assignment, ran), what="settling a task")
        if waiting:  # asking is not failing: no run counts against the agent's health
            self._notify_question(task_id)
        else:
            self._record_run(agent_id, outcome)
        # The loop collects a completed task's files and moves its ticket on (Orchestrator.tick).
        return outcome

    def _record_run(self, agent_id: str, outcome: RunOutcome) -> None:
        """Count the run towards the agent's health. The task is settled already: a database blip here
        is retried, and a record that cannot be written is logged, never taken for the task's failure."""
        try:
            call_with_retry(lambda: AgentService(self.uow()).record_run(agent_id, succeeded=outcome.completed,
                                                                        error=outcome.error),
                            what="recording an agent's run")
        except Exception:
            log.exception("the run of agent %s could not be recorded (its task is settled)", agent_id)

    def _notify_question(self, task_id: int) -> None:
        """Tell the input webhook (when set) about the question the task's agent asked; never fatal."""
        from phaseloom.services.human_input import HumanInputService

        try:
            HumanInputService(self.uow()).notify(task_id)
        except Exception:
            log.exception("the question of task %s could not be sent to the input webhook", task_id)

    def merge_left_work(self) -> list[int]:
        """Merge the work of completed tasks whose worker ended before merging it (the lease it renewed
        ran out); the ids of those merged. Their agents, when on this machine, are ended already. Work
        that would not merge fails its task for a retry, as when its own worker merges it."""
        merged = []
        for task in call_with_retry(lambda: QueueService(self.uow()).unmerged_orphans(), what="finding unmerged work"):
            try:
                error = self._merge_left(task)
            except Exception as exc:
                if is_transient(exc):
                    raise  # the lease runs out again: the next look takes it over
                log.exception("merging the work task %s left failed", task.id)
                with self.uow() as uow:
                    uow.emit("workspace.merge_failed", "task", task.id, project_id=task.project_id,
                             ticket_id=task.ticket_id, phase_id=task.phase_id, payload={"git": str(exc)[:2000]})
                error = f"merging the work its worker left failed: {type(exc).__name__}: {str(exc)[:1000]}"
            if error is None:
                QueueService(self.uow()).merged(task.id)
                merged.append(task.id)
                continue
            try:
                RetryService(self.uow()).fail_unmerged(task.id, task.assigned_agent_id, f"{MERGE_FAILED}: {error}")
            except PhaseloomError as exc:  # settled meanwhile by someone else
                log.warning("task %s, whose left work would not merge, could not be failed: %s", task.id, exc)
        return merged

    def _merge_left(self, task: Task) -> str | None:
        """Merge what ``task``'s agent left on its branch; what went wrong when git would not (None: merged)."""
        with UnitOfWork(self.db, readonly=True) as uow:
            repo = uow.session.get(Project, task.project_id).repo_path
        if not repo or not task.assigned_agent_id:
            return None
        # The dead worker's worktree when it is on this machine (with what the agent left uncommitted),
        # else a new one on the agent's branch: the merge takes the branch's commits either way.
        workspace = self.workspaces().prepare(task.id, task.assigned_agent_id)
        merge = self.workspaces().integrate(workspace, summary=_subject(_reported_summary(task)))
        return None if merge.error is None else _merge_error(workspace, merge.error)

    def _runtime_for(self, task: Task, pool_runtime: Runtime) -> Runtime:
        """A runtime declared in the workflow (per phase, or workflow-wide) wins over the pool's."""
        if task.task_type == "validation":
            return pool_runtime  # reviews stay with the validator pool's own runtime
        from phaseloom.orchestrator.runtimes import configured_runtime
        from phaseloom.services.workflows import WorkflowService

        return configured_runtime(WorkflowService(self.uow()).by_id(task.workflow_id), task.phase_id) or pool_runtime

    def _settle(self, task: Task, agent_id: str, assignment: Assignment | None, outcome: RunOutcome) -> RunOutcome:
        if assignment is None:
            assignment = Assignment(task.id, agent_id, task.ticket_id, task.phase_id, Path("."), "", Path("."))
        try:
            return settle(self.uow(), assignment, outcome, self.config.settings)
        except TaskNotClaimable as exc:  # released during shutdown: the queue has it again
            log.warning("task %s was released before its outcome arrived: %s", task.id, exc)
            outcome.final_status = "released"
            return outcome

    def _workspace(self, task: Task, agent_id: str) -> tuple[Workspace | None, Path]:
        with UnitOfWork(self.db, readonly=True) as uow:
            repo = uow.session.get(Project, task.project_id).repo_path
        if repo:
            ws = self.workspaces().prepare(task.id, agent_id)
            return ws, ws.path
        root = self.config.workspace_root or Path(".phaseloom/workspaces")
        scratch = (root / "_scratch" / f"task-{task.id}").resolve()
        scratch.mkdir(parents=True, exist_ok=True)
        return None, scratch

    def _workspace_and_briefing(self, task: Task, agent_id: str, resumption: resume.Resumption | None
                                ) -> tuple[Workspace | None, Path, tuple[str, str]]:
        """The worktree, and the instructions and token, made side by side: git's processes leave the
        GIL free for the instructions' memory search and SQL, which need no worktree. A task resumed
        after a question goes on in the worktree of the run that asked (where its CLI session is)."""
        briefing = _in_background(lambda: self._briefing(task, agent_id), name=f"phaseloom-briefing-{task.id}")
        try:
            workspace, workdir = self._workspace(task, resumption.worktree_agent_id if resumption else agent_id)
        except BaseException:
            _wait_quietly(briefing)
            raise
        return workspace, workdir, briefing.result()

    def _briefing(self, task: Task, agent_id: str) -> tuple[str, str]:
        """The task's instructions and the agent's token."""
        self._warm_memory_model(task.project_id)
        builder = InstructionService(self.uow(), memory_semantic=self.config.memory_semantic)
        instructions = builder.build_instructions(task.id)
        token = ""
        try:
            from phaseloom.services.auth import AuthService

            token = AuthService(self.uow()).issue_agent_token(agent_id)
        except ImportError:
            pass
        return instructions, token

    def _assignment(self, task: Task, agent_id: str, workdir: Path, briefing: tuple[str, str], phase: Phase,
                    resumption: resume.Resumption | None = None) -> Assignment:
        instructions, token = briefing
        if resumption is not None:
            instructions = resumption.instructions(instructions)

        def tick() -> None:  # raises LeaseLost when the claim ended without the agent's report
            leases.heartbeat(self.db, task.id, agent_id, self.config.lease_seconds)

        def activity(text: str | None, session_id: str | None) -> None:
            QueueService(self.uow()).note_activity(task.id, activity=text, session_id=session_id)

        return Assignment(task_id=task.id, agent_id=agent_id, ticket_id=task.ticket_id, phase_id=task.phase_id,
                          workdir=workdir, instructions=instructions,
                          log_path=Path(self.config.log_dir).resolve() / f"task-{task.id}.log",
                          timeout_seconds=task.timeout_seconds, agent_token=token, api_url=self.config.api_url,
                          mcp_url=self.config.mcp_url, attempt=task.retry_count + 1, task_type=task.task_type,
                          database_url=absolute_url(self.db.url), server_settings=server_environment(self.config.settings),
                          expects_outputs=bool(phase.expected_outputs),
                          permissions=phase.permissions, agent_env=split_names(self.config.settings.agent_env),
                          on_tick=tick,
                          tick_seconds=heartbeat_interval(self.config.lease_seconds), on_activity=activity,
                          resume_session_id=resumption and resumption.session_id,
                          resume_message=resumption.message if resumption else "")

    def _warm_memory_model(self, project_id: int) -> None:
        """Load the embedding model before the instructions' transaction opens, when they will search by
        meaning: on SQLite that transaction holds the write lock, and a load takes seconds."""
        if not self.config.memory_semantic:
            return
        from phaseloom.db.models import TaskMemory
        from phaseloom.embeddings import shared_embedder

        embedder = shared_embedder()
        if embedder is None or not hasattr(embedder, "warm") or getattr(embedder, "loaded", False):
            return  # nothing to load, or loaded already: no query on every task
        with UnitOfWork(self.db, readonly=True) as uow:
            has_memories = uow.session.scalar(select(TaskMemory.id).where(TaskMemory.project_id == project_id)
                                              .limit(1)) is not None
        if has_memories:
            embedder.warm()

    def _phase(self, task: Task) -> tuple[Phase, Runtime | None]:
        """The task's phase, and the runtime that takes over a rate-limited run (None: none declared)."""
        from phaseloom.services.workflows import WorkflowService

        workflow = WorkflowService(self.uow()).by_id(task.workflow_id)
        fallback = configured_fallback(workflow, task.phase_id) if task.task_type != "validation" else None
        return workflow.phase(task.phase_id), fallback


def _in_background(work, *, name: str) -> Future:
    """``work()`` on a thread of its own; its result (or exception) in the future."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _wait_quietly(future: Future) -> None:
    """Wait for ``future``; its error is logged only (an earlier error is the one to report)."""
    try:
        future.result()
    except BaseException:  # noqa: BLE001
        log.debug("work beside a failed step failed too", exc_info=True)


def _merge_failed(ran: RunOutcome, workspace: Workspace, said: str) -> RunOutcome:
    """The agent's work is committed on its branch, but git would not merge it (and nothing conflicts)."""
    return RunOutcome(False, summary=ran.summary, error_class=MERGE_FAILED, retryable=True,
                      exit_code=ran.exit_code, usage_reports=ran.usage_reports, resources=ran.resources,
                      session_id=ran.session_id, error=_merge_error(workspace, said))


def _merge_error(workspace: Workspace, said: str) -> str:
    return f"merging {workspace.branch} into {workspace.ticket_branch} failed without a conflict; git said: {said}"


def _run_safely(runtime: Runtime, assignment: Assignment) -> RunOutcome:
    try:
        return runtime.run(assignment)
    except PhaseloomError as exc:
        return RunOutcome(False, error=str(exc), error_class="agent_error")
    except Exception as exc:  # noqa: BLE001 - a runtime bug must fail the task, not kill the worker thread
        log.exception("runtime %s crashed on task %s", getattr(runtime, "name", "?"), assignment.task_id)
        return RunOutcome(False, error=f"{type(exc).__name__}: {exc}", error_class="runtime_crash")


def _agent_report(db: Database, task_id: int) -> tuple[str | None, str]:
    """The summary the agent gave with its own complete_task ("" without one; None when it has not
    reported), and the task's status."""
    with UnitOfWork(db) as uow:
        task = uow.session.get(Task, task_id)
        return (_reported_summary(task) if task.status in MERGE_HOLDING_STATUSES else None), task.status


def _asked_a_person(ran: RunOutcome) -> RunOutcome:
    """The agent asked a person (ask_human) and was ended, or ended its turn: not a failure, not done."""
    return RunOutcome(False, summary=ran.summary, error_class=TaskStatus.WAITING_INPUT.value, retryable=False,
                      exit_code=ran.exit_code, usage_reports=ran.usage_reports, resources=ran.resources,
                      session_id=ran.session_id, uncommitted_changes=ran.uncommitted_changes)


def _reported_summary(task: Task) -> str:
    """The summary in the task's result (its agent's complete_task), "" without one."""
    summary = (task.result or {}).get("summary") if isinstance(task.result, dict) else None
    return summary.strip() if isinstance(summary, str) else ""


def _subject(summary: str) -> str:
    """A commit subject from the agent's summary: its first line, at most 200 characters."""
    lines = [line.strip() for line in (summary or "").splitlines() if line.strip()]
    return lines[0][:200] if lines else ""
