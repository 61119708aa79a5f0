"""The merge queue: a finished ticket's branch lands on its repository's target branch only when tested.

A workflow with ``settings.merge`` does not move a ticket to done when its last gate passes: the ticket
joins its repository's queue (:meth:`MergeQueueService.enqueue`, called in the gate's transaction). Each
:meth:`~MergeQueueService.step` takes the oldest waiting entry of a repository, merges its branch onto the
target's current tip in a scratch worktree, runs the declared checks on that merged result, and moves the
target by compare-and-swap to the exact commit tested. A target that moved meanwhile means a new test.

One at a time, not batches: every landed commit is one whose own merged result the checks passed, and a
failure names its ticket without bisecting (see the README's "Merge queue" for the cost).
A conflict or a failing check does not guess: the ticket goes back to work with a task that names the
files or the check's output, and an ``integration_issue`` discovery records why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from phaseloom.db.models import Project, Ticket
from phaseloom.db.models.merge_queue import MergeQueueEntry
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain import merge_queue as mq
from phaseloom.domain import phases as d
from phaseloom.domain.errors import Conflict, InvalidInput
from phaseloom.domain.phase_names import resolve_phase_id
from phaseloom.services.gates import run_command
from phaseloom.services.ticket_views import is_done_phase
from phaseloom.services.workflows import WorkflowService
from phaseloom.workspaces import GitFailed, MergedResult, MergeTrials, land


@dataclass(frozen=True)
class MergeQueueView:
    id: int
    ticket_id: int
    ticket_title: str
    repo: str
    branch: str
    into: str
    strategy: str
    status: str
    position: int | None  # 1 for the entry tested next in its repository; None once finished
    attempts: int
    base_commit: str | None
    tested_commit: str | None
    landed_commit: str | None
    conflicts: list[str]
    failed_check: list[str]
    reason: str
    task_id: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StepOutcome:
    entry_id: int
    ticket_id: int
    status: str  # landed | rejected | queued (the target moved after the test: tested again next step)
    reason: str


class MergeQueueService:
    def __init__(self, uow: UnitOfWork, *, root: Path | str | None = None) -> None:
        self.uow = uow
        self._root = root

    @property
    def trials(self) -> MergeTrials:
        """The scratch worktrees, under ``root`` (default: the settings' workspaces home); only steps need them."""
        return MergeTrials(self._root if self._root is not None else self.uow.settings.workspaces_home)

    # -- joining (inside the gate's transaction) ---------------------------------------
    def waiting_entry(self, ticket_id: int) -> MergeQueueEntry | None:
        return self.uow.session.scalar(select(MergeQueueEntry).where(
            MergeQueueEntry.ticket_id == ticket_id, MergeQueueEntry.status.in_(mq.WAITING_STATUSES)).limit(1))

    def enqueue(self, ticket: Ticket, settings: mq.MergeSettings, from_phase_id: str) -> MergeQueueEntry:
        """Queue ``ticket``'s branch (in the caller's open unit of work); raises Conflict without a repository."""
        from phaseloom.workspaces import ticket_branch

        project = self.uow.session.get(Project, ticket.project_id)
        if not project.repo_path:
            raise Conflict(f"the workflow merges finished tickets into {settings.into}, but project "
                           f"{project.name!r} has no repository (set its repo_path)")
        entry = MergeQueueEntry(project_id=ticket.project_id, ticket_id=ticket.id,
                                repo_path=str(Path(project.repo_path).resolve()), branch=ticket_branch(ticket.id),
                                into=settings.into, strategy=settings.strategy, from_phase_id=from_phase_id,
                                status=mq.MergeStatus.QUEUED.value)
        self.uow.session.add(entry)
        self.uow.session.flush()
        self._emit("merge.queued", entry, {"checks": [list(argv) for argv in settings.check]})
        return entry

    # -- reading ----------------------------------------------------------------------
    def entries(self, repo: str | None = None, *, finished: bool = False, limit: int = 200) -> list[MergeQueueView]:
        """Waiting entries in the order they will be tested (per repository); with ``finished``, the last
        landed and rejected ones too, newest first after them."""
        with self.uow:
            query = select(MergeQueueEntry, Ticket.title).join(Ticket, Ticket.id == MergeQueueEntry.ticket_id)
            if repo is not None:
                query = query.where(MergeQueueEntry.repo_path == str(Path(repo).resolve()))
            waiting = self.uow.session.execute(query.where(MergeQueueEntry.status.in_(mq.WAITING_STATUSES))
                                               .order_by(MergeQueueEntry.repo_path, MergeQueueEntry.id)).all()
            done = [] if not finished else self.uow.session.execute(
                query.where(MergeQueueEntry.status.not_in(mq.WAITING_STATUSES))
                .order_by(MergeQueueEntry.id.desc()).limit(limit)).all()
        views, positions = [], {}
        for entry, title in waiting:
            positions[entry.repo_path] = positions.get(entry.repo_path, 0) + 1
            views.append(_view(entry, title, positions[entry.repo_path]))
        return views + [_view(entry, title, None) for entry, title in done]

    def of_ticket(self, ticket_id: int) -> list[MergeQueueView]:
        """The ticket's entries, newest first (one per time it joined the queue): a waiting one with its place
        in its repository's queue, the finished ones with how they ended (landed commit, or why rejected)."""
        with self.uow:
            rows = self.uow.session.execute(
                select(MergeQueueEntry, Ticket.title).join(Ticket, Ticket.id == MergeQueueEntry.ticket_id)
                .where(MergeQueueEntry.ticket_id == ticket_id).order_by(MergeQueueEntry.id.desc())).all()
            views = []
            for entry, title in rows:
                position = None
                if entry.status in mq.WAITING_STATUSES:
                    position = 1 + self.uow.session.scalar(select(func.count()).where(
                        MergeQueueEntry.repo_path == entry.repo_path, MergeQueueEntry.id < entry.id,
                        MergeQueueEntry.status.in_(mq.WAITING_STATUSES)))
                views.append(_view(entry, title, position))
            return views

    def waiting_positions(self, project_id: int) -> dict[int, int]:
        """Ticket id -> its place in its repository's queue, for the project's waiting tickets (the board)."""
        rows = self.uow.session.execute(
            select(MergeQueueEntry.ticket_id, MergeQueueEntry.repo_path, MergeQueueEntry.project_id)
            .where(MergeQueueEntry.status.in_(mq.WAITING_STATUSES)).order_by(MergeQueueEntry.id)).all()
        places, counts = {}, {}
        for ticket_id, repo, project in rows:
            counts[repo] = counts.get(repo, 0) + 1
            if project == project_id:
                places[ticket_id] = counts[repo]
        return places

    def has_waiting(self, project_id: int | None = None) -> bool:
        with UnitOfWork(self.uow.db, readonly=True) as reader:
            query = select(MergeQueueEntry.id).where(MergeQueueEntry.status.in_(mq.WAITING_STATUSES))
            if project_id is not None:
                query = query.where(MergeQueueEntry.project_id == project_id)
            return reader.session.scalar(query.limit(1)) is not None

    # -- one step ---------------------------------------------------------------------
    def step(self, repo: str | None = None, *, project_id: int | None = None) -> StepOutcome | None:
        """Test the head of one repository's queue and land or reject it; None when nothing waits
        (or every waiting repository is being processed by another process)."""
        trials = self.trials
        for repo_path in self._waiting_repos(repo, project_id):
            with trials.exclusive(Path(repo_path)) as mine:
                if mine:
                    outcome = self._step_repo(repo_path)
                    if outcome is not None:
                        return outcome
        return None

    def _waiting_repos(self, repo: str | None, project_id: int | None) -> list[str]:
        with UnitOfWork(self.uow.db, readonly=True) as reader:
            query = select(MergeQueueEntry.repo_path).where(MergeQueueEntry.status.in_(mq.WAITING_STATUSES))
            if repo is not None:
                query = query.where(MergeQueueEntry.repo_path == str(Path(repo).resolve()))
            if project_id is not None:
                query = query.where(MergeQueueEntry.project_id == project_id)
            return list(dict.fromkeys(reader.session.scalars(query.order_by(MergeQueueEntry.id))))

    def _step_repo(self, repo_path: str) -> StepOutcome | None:
        """Under the repository's lock: its oldest waiting entry (one a dead process left testing included)."""
        with self.uow:
            entry = self.uow.session.scalar(select(MergeQueueEntry).where(
                MergeQueueEntry.repo_path == repo_path, MergeQueueEntry.status.in_(mq.WAITING_STATUSES))
                .order_by(MergeQueueEntry.id).limit(1).with_for_update())
            if entry is None:
                return None
            ticket = self.uow.session.get(Ticket, entry.ticket_id)
            if ticket.phase_id != entry.from_phase_id:  # a person moved it while it waited: not ours to land
                return self._drop(entry, f"the ticket left {entry.from_phase_id} (it is in {ticket.phase_id})")
            settings = mq.merge_settings_of(WorkflowService(self.uow).by_id(ticket.workflow_id).settings)
            entry.status, entry.attempts = mq.MergeStatus.TESTING.value, entry.attempts + 1
            entry_id, title = entry.id, ticket.title
            branch, into, strategy = entry.branch, entry.into, entry.strategy
        try:
            merged = self.trials.merge(Path(repo_path), branch, into, strategy,
                                       f"Merge {branch} into {into}: {title}"[:200])
        except GitFailed as exc:  # a broken repository or scratch worktree: said, not retried every tick
            merged = MergedResult("", error=str(exc))
        if merged.conflicts or merged.error is not None:
            return self._reject(entry_id, merged, conflicts=merged.conflicts, error=merged.error)
        failure = None if merged.nothing_new else self._run_checks(settings, merged)
        if failure is not None:
            return self._reject(entry_id, merged, check=failure)
        return self._land(entry_id, merged, settings)

    def _run_checks(self, settings: mq.MergeSettings | None, merged: MergedResult):
        """The first check that fails on the merged result (argv, exit code or None, output); None: all pass."""
        for argv in settings.check if settings else ():
            run = run_command(argv, merged.path, settings.timeout_seconds)
            if run.exit_code != 0:
                return argv, run.exit_code, run.error or run.output
        return None

    # -- outcomes ---------------------------------------------------------------------
    def _land(self, entry_id: int, merged: MergedResult, settings: mq.MergeSettings | None) -> StepOutcome:
        with self.uow:
            entry = self.uow.session.get(MergeQueueEntry, entry_id)
            entry.base_commit, entry.tested_commit = merged.base, merged.commit
            self._emit("merge.tested", entry, {"passed": True, "base": merged.base, "commit": merged.commit,
                                                "checks": [list(a) for a in (settings.check if settings else ())]})
            repo, into = Path(entry.repo_path), entry.into
        moved = merged.nothing_new or land(repo, into, merged.commit, merged.base)
        with self.uow:
            entry = self.uow.session.get(MergeQueueEntry, entry_id)
            if not moved:  # the target moved after its tip was read: what was tested is not what it would be
                entry.status = mq.MergeStatus.QUEUED.value
                entry.reason = f"{entry.into} moved after the test on {merged.base[:12]}: tested again"
                return StepOutcome(entry.id, entry.ticket_id, entry.status, entry.reason)
            entry.status, entry.landed_commit = mq.MergeStatus.LANDED.value, merged.commit
            entry.reason = (f"its work was on {entry.into} already" if merged.nothing_new
                            else f"landed on {entry.into} at {merged.commit[:12]}")
            self._emit("merge.landed", entry, {"commit": merged.commit, "base": merged.base,
                                                "fast_forward": not merged.nothing_new})
            self._finish_ticket(entry)
            return StepOutcome(entry.id, entry.ticket_id, entry.status, entry.reason)

    def _finish_ticket(self, entry: MergeQueueEntry) -> None:
        from phaseloom.services.tickets import TicketService

        ticket = self.uow.session.get(Ticket, entry.ticket_id)
        workflow = WorkflowService(self.uow).by_id(ticket.workflow_id)
        target = workflow.next_phase(entry.from_phase_id)
        if target is None or not is_done_phase(target):
            entry.reason += f"; the ticket was left in {ticket.phase_id}: its workflow has no done phase after it"
            return
        try:
            with self.uow.savepoint():
                TicketService(self.uow).transition(ticket.id, target.id, reason=entry.reason,
                                                   initiated_by="merge_queue", force=True)
        except Conflict as exc:  # landed: git has it; the move is a person's to make now
            entry.reason += f"; the ticket could not move to {target.id}: {exc}"

    def _reject(self, entry_id: int, merged: MergedResult, *, conflicts: list[str] | None = None,
                error: str | None = None, check: tuple | None = None) -> StepOutcome:
        with self.uow:
            entry = self.uow.session.get(MergeQueueEntry, entry_id)
            entry.base_commit, entry.tested_commit = merged.base or None, merged.commit
            if check is not None:
                argv, exit_code, output = check
                entry.failed_check, entry.output = list(argv), mq.output_tail(output)
                entry.reason = f"check {' '.join(argv)} " + ("timed out" if exit_code is None
                                                              else f"exited {exit_code}")
                task_text = mq.failing_check_task(entry.branch, entry.into, tuple(argv), exit_code, output)
                self._emit("merge.tested", entry, {"passed": False, "base": merged.base, "commit": merged.commit,
                                                    "failed_check": list(argv), "exit_code": exit_code})
            elif conflicts:
                entry.conflicts = list(conflicts)
                entry.reason = f"merging {entry.branch} onto {entry.into} conflicts in {', '.join(conflicts)}"
                task_text = mq.conflict_task(entry.branch, entry.into, conflicts)
            else:
                entry.reason = f"git refused to merge {entry.branch} onto {entry.into}: {error}"
                task_text = f"{entry.reason}\n\nMake the branch mergeable onto {entry.into} and complete again."
            entry.status = mq.MergeStatus.REJECTED.value
            entry.task_id = self._send_back(entry, task_text)
            self._emit("merge.rejected", entry, {"reason": entry.reason, "conflicts": entry.conflicts,
                                                  "failed_check": entry.failed_check, "output": entry.output,
                                                  "task_id": entry.task_id})
            return StepOutcome(entry.id, entry.ticket_id, entry.status, entry.reason)

    def _send_back(self, entry: MergeQueueEntry, task_text: str) -> int | None:
        """The ticket back in its implementation phase, with the task to fix what the queue found."""
        from phaseloom.services.discovery import DiscoveryService
        from phaseloom.services.tickets import TicketService

        ticket = self.uow.session.get(Ticket, entry.ticket_id)
        workflow = WorkflowService(self.uow).by_id(ticket.workflow_id)
        phase_id = return_phase(workflow, mq.merge_settings_of(workflow.settings), entry.from_phase_id)
        TicketService(self.uow).send_back(ticket.id, phase_id, reason=f"merge queue: {entry.reason}"[:500],
                                          initiated_by="merge_queue")
        found = DiscoveryService(self.uow).record_discovery(
            None, "integration_issue", f"Merge queue rejected {entry.branch}: {entry.reason}",
            spawn_phase_id=phase_id, spawn_description=task_text, ticket_id=ticket.id, created_by="merge_queue")
        return found.spawned_task_ids[-1] if found.spawned_task_ids else None

    def _drop(self, entry: MergeQueueEntry, why: str) -> StepOutcome:
        entry.status, entry.reason = mq.MergeStatus.REJECTED.value, why
        self._emit("merge.rejected", entry, {"reason": why, "conflicts": [], "failed_check": [], "output": "",
                                              "task_id": None})
        return StepOutcome(entry.id, entry.ticket_id, entry.status, why)

    def _emit(self, event_type: str, entry: MergeQueueEntry, payload: dict) -> None:
        self.uow.emit(event_type, "merge_queue_entry", entry.id, project_id=entry.project_id,
                      ticket_id=entry.ticket_id, phase_id=entry.from_phase_id,
                      payload={"branch": entry.branch, "into": entry.into, "repo": entry.repo_path,
                               "attempt": entry.attempts, **payload})


def return_phase(workflow: d.Workflow, settings: mq.MergeSettings | None, from_phase_id: str) -> str:
    """Where a rejected ticket goes: ``settings.merge.return_to``, else the workflow's implementation
    phase, else the phase whose gate sent it to the queue."""
    if settings is not None and settings.return_to:
        return settings.return_to
    try:
        return resolve_phase_id("implementation", [(p.id, p.name) for p in workflow.phases])
    except InvalidInput:
        return from_phase_id


def _view(entry: MergeQueueEntry, title: str, position: int | None) -> MergeQueueView:
    return MergeQueueView(
        id=entry.id, ticket_id=entry.ticket_id, ticket_title=title, repo=entry.repo_path, branch=entry.branch,
        into=entry.into, strategy=entry.strategy, status=entry.status, position=position, attempts=entry.attempts,
        base_commit=entry.base_commit, tested_commit=entry.tested_commit, landed_commit=entry.landed_commit,
        conflicts=list(entry.conflicts or []), failed_check=list(entry.failed_check or []), reason=entry.reason,
        task_id=entry.task_id, created_at=entry.created_at, updated_at=entry.updated_at)
