"""Read models for the web UI: a whole page's data in a few grouped queries.

A board of 500 cards costs four queries here, not one per card; a ticket page is one call.
Everything returned is JSON-ready (dicts, lists, ISO timestamps).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from phaseloom.db.models import Agent, GateResult, Task, TaskDiscovery, Ticket
from phaseloom.services.artifacts import ArtifactService
from phaseloom.services.board import BoardService
from phaseloom.services.discovery import DiscoveryService
from phaseloom.services.gates import GateService
from phaseloom.services.graph import GraphService
from phaseloom.services.graph_layout import layout_graph
from phaseloom.services.merge_queue import MergeQueueService
from phaseloom.services.human_input import HumanInputService, QuestionView
from phaseloom.services.projects import ProjectService
from phaseloom.services.snapshots import SnapshotService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService, TicketView
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.queue import ValidationService
from phaseloom.services.workflows import WorkflowService

ACTIVE_TASK = ("claimed", "running", "under_review")
TEXT_PREVIEW_LIMIT = 256 * 1024


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _age_seconds(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return max(0.0, round((datetime.now(timezone.utc) - aware).total_seconds(), 1))


def ticket_json(t: TicketView) -> dict[str, Any]:
    return {"id": t.id, "project_id": t.project_id, "title": t.title, "priority": t.priority,
            "phase_id": t.phase_id, "phase_name": t.phase_name, "status": t.status, "column": t.column,
            "is_done": t.is_done, "blocked_reason": t.blocked_reason, "open_blockers": t.open_blockers,
            "description": t.description, "updated_at": iso(t.updated_at)}


def question_json(q: QuestionView) -> dict[str, Any]:
    """An open question of an agent (the board's Needs input lane, the ticket page's answer form)."""
    return {"request_id": q.request_id, "task_id": q.task_id, "ticket_id": q.ticket_id,
            "ticket_title": q.ticket_title, "phase_id": q.phase_id, "question": q.question,
            "options": q.options, "asked_by": q.asked_by, "asked_at": iso(q.asked_at)}


class DashboardService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    # -- board ---------------------------------------------------------------------
    def board(self, project: str | int, *, priority: str | None = None) -> dict[str, Any]:
        """Columns with WIP, and cards with their agents, open discoveries and gate state."""
        with self.uow:
            project_row = ProjectService(self.uow).get(project)
            columns = BoardService(self.uow).board(project_row.id, priority=priority)
            extras = self._card_extras(project_row.id)
            from phaseloom.services.pool_pauses import PoolPauseService

            pauses = [p.as_json() for p in PoolPauseService(self.uow).current(project_row.id)]
            return {"project": {"id": project_row.id, "name": project_row.name}, "paused_pools": pauses,
                    "columns": [{"id": c.id, "name": c.name, "phase_mapping": c.phase_mapping,
                                 "wip_limit": c.wip_limit, "wip_use": c.wip_use,
                                 "cards": [{**ticket_json(t), **extras(t)} for t in c.tickets]}
                                for c in columns],
                    "needs_input": [question_json(q) for q in BoardService(self.uow).needs_input(project_row.id)]}

    def _card_extras(self, project_id: int):
        session = self.uow.session
        agents: dict[int, set[str]] = {}
        activity: dict[int, str] = {}  # the agent's last tool call, newest active task per ticket
        for ticket_id, agent_id, doing in session.execute(
                select(Task.ticket_id, Task.assigned_agent_id, Task.activity)
                .where(Task.project_id == project_id, Task.status.in_(ACTIVE_TASK),
                       Task.assigned_agent_id.is_not(None)).order_by(Task.id)):
            agents.setdefault(ticket_id, set()).add(agent_id)
            if doing:
                activity[ticket_id] = doing
        discoveries = dict(session.execute(
            select(TaskDiscovery.ticket_id, func.count()).where(TaskDiscovery.project_id == project_id,
                                                                TaskDiscovery.status == "open")
            .group_by(TaskDiscovery.ticket_id)).all())
        tasks = dict(session.execute(select(Task.ticket_id, func.count()).where(Task.project_id == project_id)
                                     .group_by(Task.ticket_id)).all())
        gates = self._latest_gates(project_id)
        waiting = MergeQueueService(self.uow).waiting_positions(project_id)  # place in its repository's queue

        def extras(t: TicketView) -> dict[str, Any]:
            gate = gates.get((t.id, t.phase_id))
            return {"agents": sorted(agents.get(t.id, ())), "activity": activity.get(t.id),
                    "open_discoveries": discoveries.get(t.id, 0),
                    "tasks": tasks.get(t.id, 0),
                    "gate": None if gate is None else ("passed" if gate else "failing"),
                    "merge_queue": waiting.get(t.id)}
        return extras

    def _latest_gates(self, project_id: int) -> dict[tuple[int, str], bool]:
        latest = (select(func.max(GateResult.id)).join(Ticket, Ticket.id == GateResult.ticket_id)
                  .where(Ticket.project_id == project_id).group_by(GateResult.ticket_id, GateResult.phase_id))
        rows = self.uow.session.execute(select(GateResult.ticket_id, GateResult.phase_id, GateResult.passed)
                                        .where(GateResult.id.in_(latest)))
        return {(ticket_id, phase_id): passed for ticket_id, phase_id, passed in rows}

    # -- graph ---------------------------------------------------------------------
    def graph(self, *, ticket_id: int | None = None, project: str | int | None = None) -> dict[str, Any]:
        """The workflow graph with coordinates (see :func:`layout_graph`)."""
        with self.uow:
            graph = GraphService(self.uow).workflow_graph(ticket_id=ticket_id, project_id=project)
            if ticket_id is not None:
                project_id = TicketService(self.uow).get(ticket_id).project_id
            else:
                project_id = ProjectService(self.uow).get(project).id  # type: ignore[arg-type]
            workflow = WorkflowService(self.uow).by_id(ProjectService(self.uow).get(project_id).workflow_id)
            return {**layout_graph(graph, workflow), "project_id": project_id, "ticket_id": ticket_id}

    # -- ticket page ---------------------------------------------------------------
    def ticket_page(self, ticket_id: int) -> dict[str, Any]:
        """Everything the ticket page shows, in one call."""
        with self.uow:
            tickets = TicketService(self.uow)
            ticket = tickets.get(ticket_id)
            gates = GateService(self.uow)
            latest = gates.latest_result(ticket_id, ticket.phase_id)
            return {
                "ticket": ticket_json(ticket),
                "history": [{"from_phase": h.from_phase_id, "to_phase": h.to_phase_id, "reason": h.reason,
                             "initiated_by": h.initiated_by, "forced": h.forced, "at": iso(h.created_at)}
                            for h in tickets.history(ticket_id)],
                "gate": None if latest is None else {
                    "phase_id": latest.phase_id, "passed": latest.passed, "outcomes": latest.outcomes,
                    "blocking_reasons": latest.blocking_reasons, "at": iso(latest.created_at)},
                "done_definitions": [{"index": c.index, "text": c.text, "ticked": c.ticked, "evidence": c.evidence}
                                     for c in gates.done_definitions(ticket_id)],
                "artifacts": [{"id": a.id, "phase_id": a.phase_id, "path": a.path, "type": a.artifact_type,
                               "size": a.size, "has_text": a.content is not None, "at": iso(a.created_at)}
                              for a in ArtifactService(self.uow).list(ticket_id)],
                "discoveries": [_discovery_json(d) for d in DiscoveryService(self.uow).list(ticket_id=ticket_id)],
                "reviews": [{"id": r.id, "task_id": r.task_id, "phase_id": r.phase_id, "iteration": r.iteration,
                             "state": r.state, "passed": r.passed, "feedback": r.feedback,
                             "validator": r.validator_agent_id, "at": iso(r.reviewed_at or r.created_at)}
                            for r in ValidationService(self.uow).reviews(ticket_id=ticket_id)],
                "tasks": self._ticket_tasks(ticket_id),
                "snapshots": [_snapshot_json(s) for s in SnapshotService(self.uow).of_ticket(ticket_id)],
                "merge_queue": [_merge_entry_json(e) for e in MergeQueueService(self.uow).of_ticket(ticket_id)],
                "costs": self._ticket_costs(ticket_id),
                "guardian": self._ticket_guardian(ticket_id),
                "questions": [question_json(q) for q in HumanInputService(self.uow).questions(ticket_id=ticket_id)],
            }

    def _ticket_tasks(self, ticket_id: int) -> list[dict[str, Any]]:
        """The ticket's tasks, each with the paths it declared and what it waits for (``waits_for``)."""
        queue = QueueService(self.uow)
        tasks = queue.list(ticket_id=ticket_id, limit=1000)
        facts = queue.path_facts(tasks)
        return [{**task_json(t), "paths": [], "waits_for": None, **facts.get(t.id, {})} for t in tasks]

    def _ticket_guardian(self, ticket_id: int) -> list[dict[str, Any]]:
        """The Guardian's latest assessments of the ticket's agents, with what it did about them."""
        from phaseloom.services.guardian import GuardianRecords

        return [{"id": a.id, "task_id": a.task_id, "agent_id": a.agent_id, "phase_id": a.phase_id,
                 "score": a.score, "reasons": list(a.reasons), "judge": a.judge, "intervention": a.intervention,
                 "at": iso(a.created_at)}
                for a in GuardianRecords(self.uow).assessments(ticket_id=ticket_id, limit=50)]

    def _ticket_costs(self, ticket_id: int) -> list[dict[str, Any]]:
        """What the ticket's model calls cost, per phase and model."""
        from phaseloom.db.models.costs import CostRecord

        rows = self.uow.session.execute(
            select(CostRecord.phase_id, CostRecord.model, CostRecord.currency, func.sum(CostRecord.amount),
                   func.sum(CostRecord.input_tokens), func.sum(CostRecord.output_tokens))
            .where(CostRecord.ticket_id == ticket_id)
            .group_by(CostRecord.phase_id, CostRecord.model, CostRecord.currency)
            .order_by(CostRecord.phase_id, CostRecord.model))
        return [{"phase_id": phase, "model": model, "currency": currency, "amount": float(amount or 0),
                 "input_tokens": int(i or 0), "output_tokens": int(o or 0)}
                for phase, model, currency, amount, i, o in rows]

    def artifact_text(self, ticket_id: int, artifact_id: int) -> dict[str, Any]:
        with self.uow:
            artifact = next((a for a in ArtifactService(self.uow).list(ticket_id) if a.id == artifact_id), None)
            if artifact is None:
                from phaseloom.domain.errors import NotFound

                raise NotFound("artifact", artifact_id)
            text = artifact.content
            return {"id": artifact.id, "path": artifact.path, "text": text[:TEXT_PREVIEW_LIMIT] if text else None,
                    "truncated": bool(text) and len(text) > TEXT_PREVIEW_LIMIT}

    def task(self, task_id: int) -> dict[str, Any]:
        from phaseloom.services.memory_preload import preloaded_memories

        with self.uow:
            data = task_json(QueueService(self.uow).get(task_id), full=True)
            data["preloaded_memories"] = preloaded_memories(self.uow, task_id)
            return data

    # -- workflow and agents -------------------------------------------------------
    def workflow_page(self, project: str | int) -> dict[str, Any]:
        with self.uow:
            project_row = ProjectService(self.uow).get(project)
            wf = WorkflowService(self.uow).by_id(project_row.workflow_id)
            return {"project": {"id": project_row.id, "name": project_row.name}, "name": wf.name,
                    "description": wf.description, "mode": wf.mode.value,
                    "has_launch_template": bool((wf.settings or {}).get("launch_template")),
                    "columns": [{"id": c.id, "name": c.name, "phase_mapping": list(c.phase_mapping),
                                 "wip_limit": c.wip_limit} for c in wf.board_columns],
                    "phases": [{"id": p.id, "name": p.name, "sequence_order": p.sequence_order,
                                "description": p.description, "prompt": p.phase_prompt,
                                "done_definitions": list(p.done_definitions),
                                "expected_outputs": [{"type": o.type, "pattern": o.pattern, "required": o.required}
                                                     for o in p.expected_outputs],
                                "transitions": wf.allowed_targets(p.id), "is_terminal": p.is_terminal,
                                "gate": p.gate.as_stored()} for p in wf.ordered_phases]}

    def agents_page(self) -> list[dict[str, Any]]:
        with self.uow:
            session = self.uow.session
            current: dict[str, Task] = {}
            for task in session.scalars(select(Task).where(Task.status.in_(ACTIVE_TASK),
                                                           Task.assigned_agent_id.is_not(None)).order_by(Task.id)):
                current.setdefault(task.assigned_agent_id, task)
            return [{"id": a.id, "name": a.name, "type": a.agent_type, "runtime": a.runtime, "status": a.status,
                     "health": a.health, "phase_id": a.phase_id, "project_id": a.project_id,
                     "capacity": a.capacity, "last_error": a.last_error,
                     "heartbeat_age_seconds": _age_seconds(a.last_heartbeat_at),
                     "current_task": None if a.id not in current else {
                         "id": current[a.id].id, "title": current[a.id].title, "ticket_id": current[a.id].ticket_id,
                         "activity": current[a.id].activity, "activity_at": iso(current[a.id].activity_at),
                         "session_id": current[a.id].session_id}}
                    for a in session.scalars(select(Agent).where(Agent.status != "deregistered").order_by(Agent.id))]


def task_json(t: Task, *, full: bool = False) -> dict[str, Any]:
    data = {"id": t.id, "ticket_id": t.ticket_id, "phase_id": t.phase_id, "title": t.title, "status": t.status,
            "task_type": t.task_type, "priority": t.priority, "agent": t.assigned_agent_id,
            "retry_count": t.retry_count, "error": t.error, "created_at": iso(t.created_at),
            "completed_at": iso(t.completed_at), "activity": t.activity, "session_id": t.session_id}
    if full:
        data.update(description=t.description, result=t.result, started_at=iso(t.started_at))
    else:
        # The task's log, as far as the database has one: its result summary.
        data["log"] = (t.result or {}).get("log") or (t.result or {}).get("summary") if t.result else None
    return data


def _merge_entry_json(e) -> dict[str, Any]:
    """A merge-queue entry of the ticket page: its state, and what ended it (landed commit, or the reason)."""
    return {"id": e.id, "status": e.status, "position": e.position, "branch": e.branch, "into": e.into,
            "strategy": e.strategy, "attempts": e.attempts, "landed_commit": e.landed_commit,
            "tested_commit": e.tested_commit, "conflicts": e.conflicts, "failed_check": e.failed_check,
            "reason": e.reason, "task_id": e.task_id, "queued_at": iso(e.created_at), "at": iso(e.updated_at)}


def _snapshot_json(s) -> dict[str, Any]:
    return {"task_id": s.task_id, "n": s.n, "commit": s.commit, "reason": s.reason, "files": s.files,
            "at": iso(s.created_at)}


def _discovery_json(d: TaskDiscovery) -> dict[str, Any]:
    return {"id": d.id, "type": d.discovery_type, "description": d.description, "status": d.status,
            "source_task_id": d.source_task_id, "source_phase_id": d.source_phase_id,
            "spawn_phase_id": d.spawn_phase_id, "spawned_task_ids": list(d.spawned_task_ids or []),
            "at": iso(d.created_at)}
