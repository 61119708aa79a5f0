"""The Guardian: scores each running agent's alignment with its phase and steers the ones that drift.

Each round looks at every running task: its events, its log file, the files changed in its
worktree and the tools it was refused, scores them with :mod:`phaseloom.domain.guardian` (plus an
optional LLM judge), stores a :class:`GuardianAssessment` and intervenes — a steering note the agent
reads on its next tool call (rate-limited per agent), and, once misalignment persists, a diagnosis
of the ticket through :class:`~phaseloom.services.diagnostics.DiagnosticsService` (a ``Diagnosis``
row and a HIGH-priority recovery task), subject to that service's guards: a cooldown per ticket, a
cap on diagnoses, nothing new while a recovery task is open. One diagnosis per misaligned streak;
while the guards hold it back, each assessment says why and the Guardian asks again next round. It
never stops or kills an agent, and leaves young runs alone.

Heartbeats are not progress: an orchestrator heartbeats its agents whatever they are doing, and a
diagnosis of the ticket (with the recovery task it queues) is about the agent, not done by it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import and_, func, or_, select

from phaseloom.config import Settings
from phaseloom.db.models import Diagnosis, SystemEvent, Task
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.gates import Artifact
from phaseloom.db.models.guardian import GuardianAssessment, SteeringNote
from phaseloom.domain import guardian as rules
from phaseloom.domain.guardian import Judge, JudgeUnavailable
from phaseloom.domain.phases import Phase
from phaseloom.judges import LlmJudge
from phaseloom.services.diagnostics import DISCOVERY_TYPE as DIAGNOSTIC_DISCOVERY
from phaseloom.services.diagnostics import DiagnosticsService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

log = logging.getLogger(__name__)
# Bookkeeping the system does around a run; none of it shows the agent doing anything.
_NOT_ACTIVITY = ("task.claimed", "task.started", "workspace.prepared", "workspace.repaired", "task.failed")
_LOG_TAIL_CHARS = 2000
INFERRED_FROM = "guardian"  # how the Guardian's diagnoses are marked in the diagnoses table


@dataclass(frozen=True)
class _Observed:
    task_id: int
    agent_id: str
    ticket_id: int
    phase: Phase
    started: datetime
    trajectory: rules.Trajectory
    log_tail: str


class GuardianService:
    def __init__(self, uow: UnitOfWork, *, settings: Settings, policy: rules.GuardianPolicy | None = None,
                 judge: Judge | bool | None = None, log_dir: Path | str | None = None) -> None:
        """``judge``: None for the one configured in ``settings`` (if any), False for none."""
        self.uow = uow
        self.policy = policy or rules.GuardianPolicy()
        self.settings = settings
        if judge is None:
            judge = LlmJudge.from_settings(self.settings)
        self.judge: Judge | None = judge or None
        self.log_dir = Path(log_dir) if log_dir else self.settings.home / "logs"

    # -- a round -----------------------------------------------------------------
    def assess_running(self, now: datetime | None = None) -> list[GuardianAssessment]:
        """Assess every running task old enough to judge; returns the stored assessments."""
        now = now or utcnow()
        with self.uow:
            task_ids = list(self.uow.session.scalars(
                select(Task.id).where(Task.status == "running", Task.assigned_agent_id.is_not(None))
                .order_by(Task.id)))
        stored = []
        for task_id in task_ids:
            observed = self._observe(task_id, now)
            if observed is not None:
                stored.append(self._assess(observed, now))
        return stored

    def _assess(self, seen: _Observed, now: datetime) -> GuardianAssessment:
        verdict = rules.score_trajectory(seen.trajectory, self.policy)
        score, judge, reasons = self._with_judge(seen, verdict)
        with self.uow:
            assessment = GuardianAssessment(agent_id=seen.agent_id, task_id=seen.task_id, ticket_id=seen.ticket_id,
                                            phase_id=seen.phase.id, score=score, reasons=reasons, judge=judge,
                                            created_at=now)
            assessment.intervention = self._intervene(seen, assessment, now)
            self.uow.session.add(assessment)
            self.uow.session.flush()
            self.uow.emit("guardian.assessed", "task", seen.task_id, ticket_id=seen.ticket_id,
                          phase_id=seen.phase.id, payload={"agent_id": seen.agent_id, "score": score, "judge": judge,
                                                           "intervention": assessment.intervention})
            return assessment

    def _with_judge(self, seen: _Observed, verdict: rules.RuleVerdict) -> tuple[float, str, list[str]]:
        reasons = list(verdict.reasons)
        if self.judge is None:
            reasons.append("LLM judge not configured (guardian_judge_base_url, guardian_judge_model): "
                           "score from rules only")
            return verdict.score, "rules", reasons
        try:
            judged, why = self.judge.score(_judge_context(seen, verdict))
        except JudgeUnavailable as exc:
            reasons.append(f"LLM judge failed ({exc}): score from rules only")
            return verdict.score, "rules", reasons
        reasons.append(f"LLM judge scored {judged:.2f}" + (f": {why}" if why else ""))
        return rules.blend(verdict.score, judged, self.policy.judge_weight), "rules+llm", reasons

    def _intervene(self, seen: _Observed, assessment: GuardianAssessment, now: datetime) -> str:
        session = self.uow.session
        earlier = list(session.scalars(
            select(GuardianAssessment.score)
            .where(GuardianAssessment.task_id == seen.task_id, GuardianAssessment.agent_id == seen.agent_id)
            .order_by(GuardianAssessment.id.desc()).limit(self.policy.diagnose_after)))
        streak = rules.misaligned_streak([assessment.score, *earlier], self.policy.aligned_threshold)
        last_note = session.scalar(select(SteeringNote.created_at).where(SteeringNote.agent_id == seen.agent_id)
                                   .order_by(SteeringNote.created_at.desc()).limit(1))
        reasons = list(assessment.reasons)

        def choose(already_diagnosed: bool) -> str:
            return rules.choose_intervention(assessment.score, streak, last_note_at=_aware(last_note),
                                             already_diagnosed=already_diagnosed, now=now, policy=self.policy)

        choice = choose(self._diagnosed_in_streak(seen))
        if choice == "diagnose":
            diagnosed, what = self._diagnose(seen, assessment, streak, now)
            assessment.reasons = [*reasons, what]
            if not diagnosed:
                choice = choose(already_diagnosed=True)
        if choice == "steer":
            self._steer(seen, reasons, now)
        return choice

    def _diagnosed_in_streak(self, seen: _Observed) -> bool:
        """Whether the Guardian diagnosed the ticket since this agent was last aligned (or its run began)."""
        session = self.uow.session
        last_aligned = session.scalar(select(func.max(GuardianAssessment.created_at)).where(
            GuardianAssessment.task_id == seen.task_id, GuardianAssessment.agent_id == seen.agent_id,
            GuardianAssessment.score >= self.policy.aligned_threshold))
        since = max(seen.started, _aware(last_aligned) or seen.started)
        return session.scalar(select(Diagnosis.id).where(
            Diagnosis.ticket_id == seen.ticket_id, Diagnosis.inferred_from == INFERRED_FROM,
            Diagnosis.created_at >= since).limit(1)) is not None

    def _steer(self, seen: _Observed, reasons: list[str], now: datetime) -> None:
        patterns = tuple(o.pattern for o in seen.phase.expected_outputs)
        note = SteeringNote(task_id=seen.task_id, agent_id=seen.agent_id, created_at=now,
                            text=rules.steering_text(reasons, seen.phase.id, patterns))
        self.uow.session.add(note)
        self.uow.emit("guardian.steered", "task", seen.task_id, ticket_id=seen.ticket_id, phase_id=seen.phase.id,
                      payload={"agent_id": seen.agent_id, "text": note.text[:500]})

    def _diagnose(self, seen: _Observed, assessment: GuardianAssessment, streak: int,
                  now: datetime) -> tuple[bool, str]:
        """Ask for a diagnosis of the ticket; whether one was recorded, and what happened in words."""
        verdict = rules.misalignment_verdict(seen.ticket_id, seen.task_id, seen.agent_id, seen.phase.id, streak,
                                             assessment.score, assessment.reasons)
        outcome = DiagnosticsService(self.uow).record_diagnosis(verdict, phase_id=seen.phase.id,
                                                                inferred_from=INFERRED_FROM, now=now)
        if not outcome.diagnosed:
            return False, f"diagnosis held back by the diagnostics guards: {outcome.reason}"
        tasks = ", ".join(str(i) for i in outcome.recovery_task_ids) or "none"
        return True, (f"diagnosis {outcome.diagnosis_id} recorded; recovery task(s) {tasks} "
                      f"queued in {seen.phase.id}")

    # -- observing ---------------------------------------------------------------
    def _observe(self, task_id: int, now: datetime) -> _Observed | None:
        with self.uow:
            task = self.uow.session.get(Task, task_id)
            if task is None or task.status != "running" or not task.assigned_agent_id:
                return None
            started = _aware(task.started_at or task.claimed_at or task.created_at)
            age = (now - started).total_seconds()
            if age < self.policy.min_age_seconds:
                return None  # too young to judge
            phase = WorkflowService(self.uow).by_id(task.workflow_id).phase(task.phase_id)
            events = self._events(task, started)
            log_path = self.log_dir / f"task-{task.id}.log"
            latest = max([started, *(_aware(e.created_at) for e in events if e.event_type not in _NOT_ACTIVITY),
                          *_log_mtime(log_path)])
            trajectory = rules.Trajectory(
                age_seconds=age, seconds_since_progress=max(0.0, (now - latest).total_seconds()),
                activity_count=sum(e.event_type not in _NOT_ACTIVITY for e in events) + bool(_log_mtime(log_path)),
                failures=tuple(str(e.payload.get("error", "")) for e in events
                               if e.event_type == "task.failed" and e.entity_id == str(task.id)),
                files_written=tuple(self._files_touched(task, events)),
                expected_patterns=tuple(o.pattern for o in phase.expected_outputs),
                denied_tools=tuple(str(e.payload.get("tool", "?")) for e in events
                                   if e.event_type == "mcp.tool_denied"))
            return _Observed(task.id, task.assigned_agent_id, task.ticket_id, phase, started, trajectory,
                             _tail(log_path))

    def _events(self, task: Task, started: datetime) -> list[SystemEvent]:
        """The task's events (failures of all attempts), and the ticket's and agent's since this run began."""
        mine = and_(SystemEvent.entity_type == "task", SystemEvent.entity_id == str(task.id))
        since = and_(SystemEvent.created_at >= started, or_(
            SystemEvent.ticket_id == task.ticket_id,
            and_(SystemEvent.entity_type == "agent", SystemEvent.entity_id == task.assigned_agent_id)))
        found = self.uow.session.scalars(
            select(SystemEvent).where(or_(mine, since), SystemEvent.event_type.not_like("guardian.%"),
                                      SystemEvent.event_type != "diagnosis.recorded")
            .order_by(SystemEvent.id.desc()).limit(500))
        return [e for e in found if not _about_a_diagnosis(e)]

    def _files_touched(self, task: Task, events: list[SystemEvent]) -> list[str]:
        """Files changed in the task's worktree when it has one; else the artifacts recorded for it."""
        for event in events:
            if event.event_type in ("workspace.prepared", "workspace.repaired") and event.entity_id == str(task.id):
                changed = _changed_in_worktree(Path(str(event.payload.get("path", ""))))
                if changed is not None:
                    return changed
                break
        return list(self.uow.session.scalars(select(Artifact.path).where(Artifact.task_id == task.id)))



class GuardianRecords:
    """What the Guardian stored: its assessments and the steering notes it left (no settings needed)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def assessments(self, *, ticket_id: int | None = None, task_id: int | None = None,
                    limit: int = 100) -> list[GuardianAssessment]:
        """Stored assessments, newest first."""
        with self.uow:
            query = select(GuardianAssessment).order_by(GuardianAssessment.id.desc()).limit(limit)
            if ticket_id is not None:
                query = query.where(GuardianAssessment.ticket_id == ticket_id)
            if task_id is not None:
                query = query.where(GuardianAssessment.task_id == task_id)
            return list(self.uow.session.scalars(query))

    def notes(self, agent_id: str) -> list[SteeringNote]:
        with self.uow:
            return list(self.uow.session.scalars(
                select(SteeringNote).where(SteeringNote.agent_id == agent_id).order_by(SteeringNote.id)))

    def deliver_notes(self, agent_id: str) -> list[str]:
        """The agent's undelivered notes, oldest first, stamped delivered so each is handed over once."""
        with self.uow:
            pending = list(self.uow.session.scalars(
                select(SteeringNote).where(SteeringNote.agent_id == agent_id, SteeringNote.delivered_at.is_(None))
                .order_by(SteeringNote.id).with_for_update()))
            for note in pending:
                note.delivered_at = utcnow()
            return [n.text for n in pending]


def _about_a_diagnosis(event: SystemEvent) -> bool:
    """The discovery a diagnosis records and the recovery task it queues: not the agent's progress."""
    payload = event.payload or {}
    return (payload.get("type") == DIAGNOSTIC_DISCOVERY
            or str(payload.get("title", "")).startswith(f"{DIAGNOSTIC_DISCOVERY}:"))


def _judge_context(seen: _Observed, verdict: rules.RuleVerdict) -> str:
    phase, t = seen.phase, seen.trajectory
    parts = [f"Phase {phase.id} ({phase.name}): {phase.phase_prompt or phase.description}",
             "Done definitions: " + "; ".join(phase.done_definitions),
             "Expected outputs: " + ", ".join(t.expected_patterns),
             f"Running for {t.age_seconds:.0f} s; last progress {t.seconds_since_progress:.0f} s ago.",
             "Files touched: " + ", ".join(t.files_written[:30]),
             "Rule findings: " + "; ".join(verdict.reasons),
             "Log tail:\n" + (seen.log_tail or "(no log output)")]
    return "\n".join(parts)


def _changed_in_worktree(path: Path) -> list[str] | None:
    from phaseloom.workspaces import git

    if not (path / ".git").exists():
        return None
    try:
        status = git(path, "status", "--porcelain", "--untracked-files=all", check=False)
    except OSError:
        return None
    return sorted({line[3:].split(" -> ")[-1].strip('"') for line in status.splitlines() if len(line) > 3})


def _log_mtime(path: Path) -> list[datetime]:
    try:
        stat = path.stat()
    except OSError:
        return []
    return [datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc)] if stat.st_size else []


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - _LOG_TAIL_CHARS))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
