"""The MCP tools: each one parses its arguments, calls one service use-case as the calling agent, and
returns a structured result. Policy is not checked here (see ``gate.py``); domain errors become
tool errors carrying the domain's own message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from phaseloom.config import Settings
from phaseloom.db.engine import Database
from phaseloom.domain.errors import PhaseloomError
from phaseloom.mcp.identity import current_agent_id
from phaseloom.mcp.memory_tools import MemoryTools
from phaseloom.mcp.peer_tools import (
    AnyId,
    Ignored,
    PeerTools,
    number_id,
    phase_for,
    phase_for_status,
)
from phaseloom.schemas import mcp as out
from phaseloom.schemas.api.common import MAX_ID
from phaseloom.schemas.costs import UsageRecorded
from phaseloom.services.agent_work import AgentWorkService
from phaseloom.services.costs import CostService
from phaseloom.services.discovery import DiscoveryService
from phaseloom.services.gates import GateService
from phaseloom.services.instructions import AgentTool
from phaseloom.queue import QueueService
from phaseloom.services.ticket_comments import TicketCommentService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.queue import ValidationService

# Ids are database integers: a bound here gives an out-of-range id a clear refusal, not an empty error.
TaskId = Annotated[int | None, Field(ge=1, le=MAX_ID,
                                     description="one of your own task ids; omit to use your current task")]
TicketId = Annotated[int | None, Field(ge=1, le=MAX_ID,
                                       description="a ticket you hold a task on; omit for your current task's")]


def domain_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Report a domain error as a tool error with the domain's message (not 'Error executing tool')."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PhaseloomError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper


def _task(task: Any) -> out.TaskInfo:
    return out.TaskInfo.model_validate(task)


def _ticket(view: Any) -> out.TicketInfo:
    return out.TicketInfo.model_validate(view)


class PhaseloomTools(MemoryTools, PeerTools):
    """The tool functions, bound to one database; every call runs in its own unit of work."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, settings=self.settings)

    def _work(self) -> AgentWorkService:
        return AgentWorkService(self._uow(), self.settings)

    def functions(self) -> list[Callable[..., Any]]:
        return [self.get_my_task, self.get_phase_instructions, self.create_task, self.change_ticket_status,
                self.report_discovery, self.complete_task, self.fail_task, self.heartbeat, self.submit_validation,
                self.ask_human, self.tick_done_definition, self.get_ticket, self.list_phases, self.add_ticket_comment,
                self.save_memory, self.find_memories, self.report_usage, self.write_artifact, *self.peer_functions()]

    def summaries(self) -> tuple[AgentTool, ...]:
        return tuple(AgentTool(f.__name__, (f.__doc__ or "").strip().splitlines()[0]) for f in self.functions())

    # -- the task ------------------------------------------------------------------
    def get_my_task(self) -> out.MyTaskResult:
        """Get your current task, claiming the best ready one for you when you hold none."""
        task, claimed_now = self._work().get_or_claim(current_agent_id())
        if task is None:
            return out.MyTaskResult(task=None, claimed_now=False, message="no task is ready for you; ask again later")
        verb = "claimed" if claimed_now else "you already hold"
        return out.MyTaskResult(task=_task(task), claimed_now=claimed_now, message=f"{verb} task {task.id}",
                                steering_notes=self._steering_notes())

    def get_phase_instructions(self, task_id: TaskId = None) -> out.PhaseInstructions:
        """Read what your task's phase expects: prompt, done definitions, expected outputs, next steps."""
        found = self._work().instructions(current_agent_id(), task_id, tools=self.summaries())
        phase = found.phase
        return out.PhaseInstructions(
            task_id=found.task_id, ticket_id=found.ticket_id, phase_id=phase.id, phase_name=phase.name,
            description=phase.description, prompt=phase.phase_prompt, done_definitions=list(phase.done_definitions),
            expected_outputs=[{"type": o.type, "pattern": o.pattern, "required": o.required}
                              for o in phase.expected_outputs],
            next_steps=list(phase.next_steps_guide), allowed_transitions=found.allowed_transitions, text=found.text,
            steering_notes=self._steering_notes())

    def _steering_notes(self) -> list[str]:
        from phaseloom.services.guardian import GuardianRecords

        return GuardianRecords(self._uow()).deliver_notes(current_agent_id())

    def complete_task(self, result: Annotated[str, Field(description="what you did, in a few sentences")],
                      artifacts: Annotated[list[str], Field(description="paths of files you produced")] = [],  # noqa: B006
                      task_id: TaskId = None) -> out.TaskInfo:
        """Finish your task with a summary of the result and the files you produced."""
        return _task(self._work().complete(current_agent_id(), result, artifacts, task_id))

    def fail_task(self, reason: Annotated[str, Field(min_length=1, description="why the task cannot be done")],
                  task_id: TaskId = None) -> out.TaskInfo:
        """Give up on your task with the reason; it is retried while retries remain."""
        return _task(self._work().fail(current_agent_id(), reason, task_id))

    def ask_human(self, question: Annotated[str, Field(min_length=1, max_length=4000,
                                                       description="what you need a person to decide or tell you")],
                  options: Annotated[list[str], Field(max_length=20, description="answers to choose from, if "
                                                      "the question has a few")] = [],  # noqa: B006
                  task_id: TaskId = None) -> out.QuestionAsked:
        """Ask a person a question you cannot answer yourself; then end your turn: you are resumed with the answer."""
        from phaseloom.services.human_input import HumanInputService

        task = self._work().current_task(current_agent_id(), task_id)
        request = HumanInputService(self._uow(), self.settings).ask(task.id, current_agent_id(), question, options)
        return out.QuestionAsked(task_id=task.id, request_id=request.id, status="waiting_input",
                                 message="Your question is with a person. Stop here and end your turn without "
                                         "calling complete_task or fail_task: your session is resumed with the "
                                         "answer as the next message.")

    def write_artifact(self, path: Annotated[str, Field(min_length=1, max_length=1000, description="relative to your "
                                                        "worktree; must match one of your phase's expected outputs")],
                       content: Annotated[str, Field(description="the whole file, as text")],
                       task_id: TaskId = None) -> out.ArtifactWritten:
        """Write one of your phase's declared outputs (e.g. design.md); the way a read_only phase writes files."""
        from phaseloom.services.phase_outputs import PhaseOutputService

        written = PhaseOutputService(self._uow()).write(current_agent_id(), path, content, task_id)
        return out.ArtifactWritten(task_id=written.task_id, path=written.path, pattern=written.pattern,
                                   bytes=written.bytes, message=f"wrote {written.bytes} bytes to {written.path}")

    def heartbeat(self, task_id: TaskId = None) -> list[out.TaskInfo]:
        """Tell the server you are still working, so your claims on your tasks do not expire."""
        return [_task(t) for t in self._work().heartbeat(current_agent_id(), task_id)]

    def create_task(self, description: Annotated[str, Field(min_length=1, description="what the new task must do")],
                    phase_id: Annotated[str | int, Field(description="a phase id, or a Hephaestus phase number")],
                    ticket_id: AnyId = None, priority: str | None = None,
                    depends_on: Annotated[list[int], Field(description="task ids that must finish first")] = [],  # noqa: B006
                    done_definition: str = "",
                    paths: Annotated[list[str], Field(description="globs of the files the task will touch, e.g. "
                                                      "src/auth/**: it never runs beside a task touching the same "
                                                      "(default: its phase's)")] = [],  # noqa: B006
                    agent_id: Ignored = None, workflow_id: Ignored = None, cwd: Ignored = None) -> out.TaskInfo:
        """Queue a new task in any phase of a ticket you are working on (default: your current task's)."""
        agent_id = current_agent_id()
        ticket = self._work().own_ticket(agent_id, number_id(ticket_id, "ticket"))
        phase = phase_for(self._work().workflow(agent_id), phase_id)
        title = description.strip().splitlines()[0][:200]
        text = description + (f"\n\nDone when: {done_definition}" if done_definition.strip() else "")
        task = QueueService(self._uow(), self.settings).create_task(
            ticket, phase, title, description=text, priority=priority, depends_on=depends_on,
            created_by=f"agent:{agent_id}", paths=paths or None)
        return _task(task)

    # -- the ticket ----------------------------------------------------------------
    def get_ticket(self, ticket_id: TicketId = None) -> out.TicketInfo:
        """Read a ticket you are working on: title, description, phase, status."""
        ticket = self._work().own_ticket(current_agent_id(), ticket_id)
        return _ticket(TicketService(self._uow()).get(ticket))

    def change_ticket_status(self, to_phase_id: Annotated[str | None, Field(description="the phase to move the "
                                                                               "ticket to")] = None,
                             reason: str = "", ticket_id: AnyId = None,
                             new_status: Annotated[str | None, Field(description="Hephaestus: a phase, board "
                                                                     "column or status to move to")] = None,
                             comment: str = "", agent_id: Ignored = None) -> out.TicketInfo:
        """Move your ticket to another phase, as the workflow's transitions allow."""
        agent_id = current_agent_id()
        ticket = self._work().own_ticket(agent_id, number_id(ticket_id, "ticket"))
        target = to_phase_id or (phase_for_status(self._work().workflow(agent_id), new_status) if new_status else None)
        if target is None:
            raise ToolError("say where to move the ticket: to_phase_id (or new_status)")
        return _ticket(TicketService(self._uow()).transition(ticket, target, reason=reason or comment,
                                                             initiated_by=f"agent:{agent_id}"))

    def add_ticket_comment(self, body: Annotated[str, Field(min_length=1)],
                           ticket_id: TicketId = None) -> out.CommentInfo:
        """Add a comment to a ticket you are working on."""
        agent_id = current_agent_id()
        ticket = self._work().own_ticket(agent_id, ticket_id)
        comment = TicketCommentService(self._uow()).add(ticket, body, author=f"agent:{agent_id}")
        return out.CommentInfo.model_validate(comment)

    def list_phases(self) -> out.PhaseList:
        """List the phases of your workflow, in order, with the transitions each allows."""
        workflow = self._work().workflow(current_agent_id())
        return out.PhaseList(workflow=workflow.name, phases=[
            out.PhaseInfo(id=p.id, name=p.name, description=p.description, sequence_order=p.sequence_order,
                          is_terminal=p.is_terminal, allowed_transitions=workflow.allowed_targets(p.id))
            for p in workflow.ordered_phases])

    # -- discoveries, reviews, gates ------------------------------------------------
    def report_discovery(self, type: Annotated[str, Field(description="bug_found, clarification_needed, "
                                                          "missing_requirement, optimization_opportunity, ...")],
                         description: Annotated[str, Field(min_length=1, description="what you found")],
                         spawn_phase_id: Annotated[str | None, Field(description="phase to queue a task in")] = None,
                         spawn_description: str | None = None, task_id: TaskId = None) -> out.DiscoveryOutcome:
        """Record something found outside your task; it may spawn a task in any phase of the ticket."""
        agent_id = current_agent_id()
        task = self._work().current_task(agent_id, task_id)
        found = DiscoveryService(self._uow()).record_discovery(
            task.id, type, description, spawn_phase_id, spawn_description, created_by=f"agent:{agent_id}")
        spawned = (found.spawned_task_ids or [None])[-1]
        return out.DiscoveryOutcome(discovery_id=found.id, type=found.discovery_type, spawned_task_id=spawned,
                                    spawned_phase_id=found.spawn_phase_id,
                                    message=f"discovery {found.id} recorded" + (
                                        f"; task {spawned} queued in {found.spawn_phase_id}" if spawned else ""))

    def submit_validation(self, task_id: Annotated[int, Field(description="your validation task's id")],
                          passed: bool, feedback: str = "",
                          evidence: Annotated[list[str], Field(description="what you checked")] = [],  # noqa: B006
                          ) -> out.ValidationOutcome:
        """Give your verdict on the work your validation task reviews (feedback required when it fails)."""
        review = ValidationService(self._uow()).submit_review(task_id, current_agent_id(), passed, feedback, evidence)
        return out.ValidationOutcome(task_id=task_id, passed=passed, message=f"review recorded: {review.state}",
                                     details={"reviewed_task_id": review.task_id, "iteration": review.iteration})

    def tick_done_definition(self, definition: Annotated[int | str, Field(description="the done definition's "
                                                                           "0-based index or its exact text")],
                             evidence: Annotated[str, Field(min_length=1, description="how you know it is done")],
                             task_id: TaskId = None) -> out.DoneDefinitionOutcome:
        """Mark one done definition of your task's phase as met on its ticket, with evidence."""
        agent_id = current_agent_id()
        task = self._work().current_task(agent_id, task_id)
        gates = GateService(self._uow())
        item = gates.tick_done_definition(task.ticket_id, definition, evidence, by=f"agent:{agent_id}",
                                          phase_id=task.phase_id)
        checklist = gates.done_definitions(task.ticket_id, task.phase_id)
        return out.DoneDefinitionOutcome(ticket_id=task.ticket_id, phase_id=task.phase_id, definition=item.text,
                                         ticked=[i.text for i in checklist if i.ticked],
                                         remaining=[i.text for i in checklist if not i.ticked])

    # -- costs -----------------------------------------------------------------------
    def report_usage(self, model: Annotated[str, Field(min_length=1, max_length=200)],
                     input_tokens: Annotated[int, Field(ge=0)], output_tokens: Annotated[int, Field(ge=0)],
                     task_id: TaskId = None) -> UsageRecorded:
        """Report the tokens one of your model calls used, so its cost counts against the budgets."""
        agent_id = current_agent_id()
        task = self._work().current_task(agent_id, task_id)
        record = CostService(self._uow(), self.settings).record_usage(task.id, agent_id, model, input_tokens,
                                                                      output_tokens, source="mcp")
        return UsageRecorded(task_id=task.id, model=record.model, input_tokens=record.input_tokens,
                             output_tokens=record.output_tokens, amount=record.amount, currency=record.currency,
                             message=f"recorded {record.amount:.6f} {record.currency} on task {task.id}")


def offered_tool_names() -> set[str]:
    """The names of the tools the server offers; needs no database (the functions are not called)."""
    return {fn.__name__ for fn in PhaseloomTools(None, None).functions()}  # type: ignore[arg-type]


def register_tools(server: Any, tools: PhaseloomTools) -> list[str]:
    """Add every tool to ``server`` with domain errors mapped; return their names."""
    for fn in tools.functions():
        server.add_tool(domain_errors(fn), name=fn.__name__, description=(fn.__doc__ or "").strip(),
                        structured_output=True)
    return [fn.__name__ for fn in tools.functions()]
