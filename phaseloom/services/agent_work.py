"""What an agent does from inside its task, scoped to that agent: the use-cases behind the MCP tools.

An agent acts on its own active tasks (claimed or running) and on their tickets, nothing else.
When it holds exactly one active task, tools that take an optional ``task_id`` use that one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from phaseloom.config import Settings
from phaseloom.db.models import Agent, Task
from phaseloom.domain import phases as d
from phaseloom.domain.errors import Conflict, Forbidden, NotFound, TaskNotClaimable
from phaseloom.domain.tasks import ACTIVE_STATUSES
from phaseloom.services.instructions import TASK_TOOLS, AgentTool, InstructionService
from phaseloom.queue import QueueService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

_ACTIVE = [s.value for s in ACTIVE_STATUSES]


@dataclass(frozen=True)
class Instructions:
    task_id: int
    ticket_id: int
    phase: d.Phase
    allowed_transitions: list[str]
    text: str


class AgentWorkService:
    def __init__(self, uow: UnitOfWork, settings: Settings | None = None) -> None:
        self.uow = uow
        self.settings = settings
        self.queue = QueueService(uow, settings)

    # -- the agent's tasks ---------------------------------------------------------
    def active_tasks(self, agent_id: str) -> list[Task]:
        with self.uow:
            if self.uow.session.get(Agent, agent_id) is None:
                raise NotFound("agent", agent_id)
            return list(self.uow.session.scalars(
                select(Task).where(Task.assigned_agent_id == agent_id, Task.status.in_(_ACTIVE)).order_by(Task.id)))

    def current_task(self, agent_id: str, task_id: int | None = None) -> Task:
        """The agent's task ``task_id``, or its only active task when ``task_id`` is None."""
        with self.uow:
            if task_id is not None:
                task = self.queue.get(task_id)
                if task.assigned_agent_id != agent_id:
                    raise Forbidden(f"task {task.id} is not assigned to agent {agent_id}; "
                                    "an agent may act only on its own tasks")
                if task.status not in _ACTIVE:
                    raise TaskNotClaimable(f"task {task.id} is {task.status}, not claimed or running")
                return task
            active = self.active_tasks(agent_id)
            if not active:
                raise Conflict(f"agent {agent_id} has no claimed or running task; call get_my_task first")
            if len(active) > 1:
                ids = ", ".join(str(t.id) for t in active)
                raise Conflict(f"agent {agent_id} holds several tasks ({ids}); say which one with task_id")
            return active[0]

    def get_or_claim(self, agent_id: str) -> tuple[Task | None, bool]:
        """The agent's current task, or the best task it can claim now (None when nothing is ready)."""
        with self.uow:
            active = self.active_tasks(agent_id)
            if active:
                return active[0], False
            task = self.queue.claim_next_task(agent_id)
            if task is not None:
                task = self.queue.start_task(task.id, agent_id)
            return task, task is not None

    def own_ticket(self, agent_id: str, ticket_id: int | None = None) -> int:
        """``ticket_id`` if one of the agent's active tasks is on it; None: the current task's ticket."""
        with self.uow:
            if ticket_id is None:
                return self.current_task(agent_id).ticket_id
            if any(t.ticket_id == int(ticket_id) for t in self.active_tasks(agent_id)):
                return int(ticket_id)
            from phaseloom.services.tickets import TicketService

            TicketService(self.uow).get(int(ticket_id))  # an unknown ticket is NotFound, not Forbidden
            raise Forbidden(f"agent {agent_id} has no active task on ticket {ticket_id}; "
                            "an agent may act only on the tickets of its own tasks")

    # -- acting on the current task ------------------------------------------------
    def complete(self, agent_id: str, summary: str, artifacts: list[str], task_id: int | None = None) -> Task:
        with self.uow:
            task = self.current_task(agent_id, task_id)
            return self.queue.complete_task(task.id, agent_id, {"summary": summary, "artifacts": list(artifacts)})

    def fail(self, agent_id: str, reason: str, task_id: int | None = None) -> Task:
        with self.uow:
            task = self.current_task(agent_id, task_id)
            return self.queue.fail_task(task.id, agent_id, reason)

    def heartbeat(self, agent_id: str, task_id: int | None = None) -> list[Task]:
        """Extend the lease of the agent's active tasks (or just ``task_id``) and mark the agent alive."""
        with self.uow:
            tasks = [self.current_task(agent_id, task_id)] if task_id is not None else self.active_tasks(agent_id)
            renewed = [self.queue.heartbeat(t.id, agent_id) for t in tasks]
            from phaseloom.services.agents import AgentService

            agents = AgentService(self.uow)
            if hasattr(agents, "heartbeat"):
                agents.heartbeat(agent_id)
            return renewed

    # -- reading -------------------------------------------------------------------
    def instructions(self, agent_id: str, task_id: int | None = None, *,
                     tools: tuple[AgentTool, ...] | None = None) -> Instructions:
        """The phase's guidance for the agent's task; ``tools`` are the ones the agent may use."""
        with self.uow:
            task = self.current_task(agent_id, task_id)
            # The settings decide whether preloaded memories are found by meaning too or by words only.
            semantic = self.settings.memory_semantic if self.settings is not None else True
            builder = InstructionService(self.uow, tools=TASK_TOOLS if tools is None else tools, memory_semantic=semantic)
            ctx = builder.context(task.id)
            allowed = ctx.workflow.allowed_targets(ctx.ticket.phase_id)
            return Instructions(task.id, task.ticket_id, ctx.phase, allowed, builder.build_instructions(task.id))

    def workflow(self, agent_id: str) -> d.Workflow:
        """The workflow the agent works in: its current task's, else its project's."""
        with self.uow:
            active = self.active_tasks(agent_id)
            if active:
                return WorkflowService(self.uow).by_id(active[0].workflow_id)
            agent = self.uow.session.get(Agent, agent_id)
            if agent is not None and agent.project_id is not None:
                from phaseloom.services.projects import ProjectService

                return WorkflowService(self.uow).by_id(ProjectService(self.uow).get(agent.project_id).workflow_id)
            raise Conflict(f"agent {agent_id} has no task and no project, so it has no workflow yet; "
                           "call get_my_task first")
