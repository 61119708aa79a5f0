"""Stuck-workflow diagnostics: find tickets that stopped moving and queue recovery work.

A ticket that is not done is stuck when it has no active task and either its latest gate
failed, its recent tasks all failed, or nothing happened for a while (see
:func:`phaseloom.domain.diagnosis.judge_activity`). Each stuck ticket gets a
:class:`~phaseloom.db.models.Diagnosis` and a recovery task through a ``diagnostic_no_result``
discovery at HIGH priority. The guards that keep this from running away — a cooldown per
ticket, a cap on diagnoses per ticket, and nothing new while a recovery task is open — read
the ``diagnoses`` table only, so they survive restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import func, select

from phaseloom.db.models import Diagnosis, PhaseRow, Task, Ticket
from phaseloom.db.models.base import utcnow
from phaseloom.domain.diagnosis import (
    GATE_FAILING,
    TASKS_FAILING,
    StuckVerdict,
    TicketActivity,
    infer_phase_by_keywords,
    judge_activity,
)
from phaseloom.domain.priorities import Priority, claim_score
from phaseloom.domain.tasks import TaskStatus
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

DISCOVERY_TYPE = "diagnostic_no_result"
_BATCH = 1000  # tickets per round of queries (bound parameters stay well under SQLite's limit)
_OPEN_STATUSES = [TaskStatus.PENDING.value, TaskStatus.CLAIMED.value, TaskStatus.RUNNING.value,
                  TaskStatus.UNDER_REVIEW.value, TaskStatus.WAITING_INPUT.value]


@dataclass(frozen=True)
class StuckTicket:
    ticket_id: int
    trigger: str
    evidence: list[str]
    recommendation: str
    phase_id: str
    inferred_from: str  # gate | tasks | keywords | current


@dataclass
class DiagnosisOutcome:
    ticket_id: int
    trigger: str
    phase_id: str
    diagnosed: bool
    reason: str = ""  # why it was skipped, when it was
    diagnosis_id: int | None = None
    recovery_task_ids: list[int] = field(default_factory=list)


class DiagnosticsService:
    def __init__(self, uow: UnitOfWork, *, idle_seconds: float = 1800.0, cooldown_seconds: float = 3600.0,
                 max_diagnoses_per_ticket: int = 3, recent_window: int = 3) -> None:
        self.uow = uow
        self.idle_seconds = idle_seconds
        self.cooldown_seconds = cooldown_seconds
        self.max_diagnoses = max_diagnoses_per_ticket
        self.recent_window = recent_window

    def find_stuck_tickets(self, *, project_id: int | None = None, now: datetime | None = None) -> list[StuckTicket]:
        """Every ticket that is not done and makes no progress, with why and where to recover."""
        now = now or utcnow()
        with self.uow:
            stuck = []
            tickets = self._open_tickets(project_id)
            activities = self._activities(tickets)
            for ticket in tickets:
                activity = activities[ticket.id]
                verdict = judge_activity(activity, now, idle_seconds=self.idle_seconds,
                                         recent_window=self.recent_window)
                if verdict is not None:
                    stuck.append(self._locate(ticket, activity, verdict))
            return stuck

    def diagnose(self, *, project_id: int | None = None, dry_run: bool = False,
                 now: datetime | None = None) -> list[DiagnosisOutcome]:
        """Diagnose every stuck ticket the guards allow; ``dry_run`` writes nothing."""
        now = now or utcnow()
        with self.uow:
            outcomes = []
            for found in self.find_stuck_tickets(project_id=project_id, now=now):
                verdict = StuckVerdict(found.ticket_id, found.trigger, found.evidence, found.recommendation)
                outcomes.append(self._diagnose_one(verdict, found.phase_id, found.inferred_from, now, dry_run))
            return outcomes

    def record_diagnosis(self, verdict: StuckVerdict, *, phase_id: str, inferred_from: str,
                         now: datetime | None = None) -> DiagnosisOutcome:
        """Diagnose one ticket for a known reason (e.g. validation gave up), if the guards allow."""
        with self.uow:
            return self._diagnose_one(verdict, phase_id, inferred_from, now or utcnow(), dry_run=False)

    def list(self, *, ticket_id: int | None = None) -> list[Diagnosis]:
        with self.uow:
            query = select(Diagnosis).order_by(Diagnosis.id)
            if ticket_id is not None:
                query = query.where(Diagnosis.ticket_id == ticket_id)
            return list(self.uow.session.scalars(query))

    # -- guards and writing ------------------------------------------------------
    def _diagnose_one(self, verdict: StuckVerdict, phase_id: str, inferred_from: str, now: datetime,
                      dry_run: bool) -> DiagnosisOutcome:
        session = self.uow.session
        outcome = DiagnosisOutcome(verdict.ticket_id, verdict.trigger, phase_id, diagnosed=False)
        query = select(Ticket).where(Ticket.id == verdict.ticket_id)
        # Lock the ticket so two diagnosing processes cannot both pass the guards.
        ticket = session.scalar(query if dry_run else query.with_for_update())
        outcome.reason = self._suppressed(ticket.id, now) or ""
        if outcome.reason or dry_run:
            return outcome
        diagnosis = Diagnosis(project_id=ticket.project_id, ticket_id=ticket.id, trigger=verdict.trigger,
                              evidence=list(verdict.evidence), recommendation=verdict.recommendation,
                              inferred_phase_id=phase_id, inferred_from=inferred_from, created_at=now)
        session.add(diagnosis)
        session.flush()
        discovery_id, task_ids = self._spawn_recovery(ticket, diagnosis)
        diagnosis.discovery_id = discovery_id
        diagnosis.recovery_task_ids = task_ids
        self.uow.emit("diagnosis.recorded", "ticket", ticket.id, project_id=ticket.project_id, ticket_id=ticket.id,
                      phase_id=phase_id, payload={"diagnosis_id": diagnosis.id, "trigger": verdict.trigger,
                                                  "recovery_task_ids": task_ids,
                                                  "recommendation": verdict.recommendation[:500]})
        outcome.diagnosed, outcome.diagnosis_id, outcome.recovery_task_ids = True, diagnosis.id, task_ids
        return outcome

    def _suppressed(self, ticket_id: int, now: datetime) -> str | None:
        session = self.uow.session
        rows = session.execute(select(Diagnosis.created_at, Diagnosis.recovery_task_ids)
                               .where(Diagnosis.ticket_id == ticket_id).order_by(Diagnosis.id)).all()
        if not rows:
            return None
        recovery_ids = [int(i) for _, ids in rows for i in ids or []]
        if recovery_ids:
            still_open = session.scalar(select(Task.id).where(Task.id.in_(recovery_ids),
                                                              Task.status.in_(_OPEN_STATUSES)).limit(1))
            if still_open is not None:
                return f"recovery task {still_open} is still open"
        if len(rows) >= self.max_diagnoses:
            return f"ticket reached its cap of {self.max_diagnoses} diagnoses"
        since = (now - _aware(rows[-1][0])).total_seconds()
        if since < self.cooldown_seconds:
            return f"diagnosed {int(since)}s ago; cooldown is {int(self.cooldown_seconds)}s"
        return None

    def _spawn_recovery(self, ticket: Ticket, diagnosis: Diagnosis) -> tuple[int | None, list[int]]:
        from phaseloom.services.discovery import DiscoveryService

        description = (f"Ticket {ticket.id} is stuck ({diagnosis.trigger}): "
                       + "; ".join(str(e) for e in diagnosis.evidence)[:1500])
        discovery = DiscoveryService(self.uow).record_discovery(
            None, DISCOVERY_TYPE, description, spawn_phase_id=diagnosis.inferred_phase_id,
            spawn_description=f"Recover ticket {ticket.id}: {diagnosis.recommendation}",
            ticket_id=ticket.id, created_by="diagnostics")
        task_ids = [int(i) for i in (getattr(discovery, "spawned_task_ids", None) or [])]
        self._raise_to_high(task_ids)
        return getattr(discovery, "id", None), task_ids

    def _raise_to_high(self, task_ids: list[int]) -> None:
        # Recovery must not queue behind the work that got stuck: at least HIGH, whatever the ticket's priority.
        for task in self.uow.session.scalars(select(Task).where(Task.id.in_(task_ids))):
            if Priority(task.priority).weight < Priority.HIGH.weight:
                task.priority = Priority.HIGH.value
                task.score = claim_score(Priority.HIGH, _aware(task.created_at).timestamp(),
                                         self.uow.settings.aging_seconds)

    # -- gathering facts ---------------------------------------------------------
    def _open_tickets(self, project_id: int | None) -> list[Ticket]:
        query = (select(Ticket).join(PhaseRow, (PhaseRow.workflow_id == Ticket.workflow_id)
                                     & (PhaseRow.id == Ticket.phase_id))
                 .where(PhaseRow.is_terminal.is_(False)).order_by(Ticket.id))
        if project_id is not None:
            query = query.where(Ticket.project_id == project_id)
        return list(self.uow.session.scalars(query))

    def _activities(self, tickets: list[Ticket]) -> dict[int, TicketActivity]:
        """What :func:`judge_activity` needs for each ticket: three queries however many tickets."""
        activities = {}
        for start in range(0, len(tickets), _BATCH):
            batch = {t.id: t for t in tickets[start:start + _BATCH]}
            counts = {row[0]: row[1:] for row in self.uow.session.execute(
                select(Task.ticket_id, func.count().filter(Task.status.in_(_OPEN_STATUSES)),
                       func.max(Task.created_at), func.max(Task.completed_at))
                .where(Task.ticket_id.in_(batch)).group_by(Task.ticket_id))}
            recent = self._recent_tasks(list(batch))
            gates = _latest_gates(self.uow.session, list(batch))
            for ticket_id, ticket in batch.items():
                activities[ticket_id] = _activity(ticket, counts.get(ticket_id, (0, None, None)),
                                                  recent.get(ticket_id, []), gates.get(ticket_id))
        return activities

    def _recent_tasks(self, ticket_ids: list[int]) -> dict[int, list[tuple]]:
        """Each ticket's ``recent_window`` latest tasks (status, phase, error), newest first."""
        newest_first = func.row_number().over(partition_by=Task.ticket_id, order_by=Task.id.desc())
        ranked = (select(Task.ticket_id, Task.status, Task.phase_id, Task.error, newest_first.label("rank"))
                  .where(Task.ticket_id.in_(ticket_ids)).subquery())
        recent: dict[int, list[tuple]] = {}
        for ticket_id, status, phase_id, error, _ in self.uow.session.execute(
                select(ranked).where(ranked.c.rank <= self.recent_window).order_by(ranked.c.ticket_id, ranked.c.rank)):
            recent.setdefault(ticket_id, []).append((status, phase_id, error))
        return recent

    def _locate(self, ticket: Ticket, activity: TicketActivity, verdict: StuckVerdict) -> StuckTicket:
        """Where recovery belongs: the failing gate's phase, the failing tasks' phase, or a keyword guess."""
        if verdict.trigger == GATE_FAILING and activity.gate_phase_id:
            phase_id, source = activity.gate_phase_id, "gate"
        elif verdict.trigger == TASKS_FAILING and activity.last_failed_phase_id:
            phase_id, source = activity.last_failed_phase_id, "tasks"
        else:
            workflow = WorkflowService(self.uow).by_id(ticket.workflow_id)
            text = " ".join([ticket.title, ticket.description or "", *activity.recent_errors])
            guess = infer_phase_by_keywords(text, workflow.phases)
            phase_id, source = (guess, "keywords") if guess else (ticket.phase_id, "current")
        return StuckTicket(ticket.id, verdict.trigger, list(verdict.evidence), verdict.recommendation,
                           phase_id, source)


def _activity(ticket: Ticket, counts: tuple, recent: list[tuple], gate) -> TicketActivity:
    active, last_created, last_done = counts
    moments = [_aware(m) for m in (ticket.updated_at, ticket.created_at, last_created, last_done) if m]
    failed_phase = next((phase for status, phase, _ in recent if status == TaskStatus.FAILED.value), None)
    return TicketActivity(
        ticket_id=ticket.id, phase_id=ticket.phase_id, active_tasks=active or 0, last_activity=max(moments),
        recent_task_statuses=[r[0] for r in recent], last_failed_phase_id=failed_phase,
        gate_failed=gate is not None and not gate.passed, gate_phase_id=gate.phase_id if gate else None,
        gate_reasons=list(gate.blocking_reasons or []) if gate else [],
        recent_errors=[r[2] for r in recent if r[2]])


def _latest_gates(session, ticket_ids: list[int]) -> dict:
    """Each ticket's latest gate result in its current phase, when gates are installed."""
    try:
        from phaseloom.db.models.gates import GateResult
    except ImportError:  # gates are an optional part of the schema
        return {}
    newest_first = func.row_number().over(partition_by=GateResult.ticket_id, order_by=GateResult.id.desc())
    ranked = (select(GateResult.id, newest_first.label("rank"))
              .join(Ticket, (Ticket.id == GateResult.ticket_id) & (Ticket.phase_id == GateResult.phase_id))
              .where(GateResult.ticket_id.in_(ticket_ids)).subquery())
    latest = select(GateResult).join(ranked, ranked.c.id == GateResult.id).where(ranked.c.rank == 1)
    return {gate.ticket_id: gate for gate in session.scalars(latest)}


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


__all__ = ["DiagnosticsService", "DiagnosisOutcome", "StuckTicket", "DISCOVERY_TYPE"]
