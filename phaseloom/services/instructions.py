"""The Markdown an agent receives for a task, rendered from the database.

The document is a list of sections, each produced by an :class:`InstructionSection` provider
from one :class:`InstructionContext`. The default providers cover the phase, its prompt, the
ticket and task, what caused the task (a discovery or a validator's feedback), the done
definitions, expected outputs, next steps and tools. Later features (preloaded memories, say)
add a provider instead of editing this module::

    builder = InstructionService(uow, sections=[*DEFAULT_SECTIONS, MemorySection()])
    markdown = builder.build_instructions(task_id)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select

from phaseloom.db import models
from phaseloom.db.models import Project, Task, Ticket
from phaseloom.domain import phases as d
from phaseloom.domain.errors import NotFound
from phaseloom.domain.permissions import WRITE_ARTIFACT_TOOL, Permissions
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService


@dataclass(frozen=True)
class AgentTool:
    name: str
    summary: str


# The core task tools, named as the MCP server names them; the MCP server passes its full list.
TASK_TOOLS: tuple[AgentTool, ...] = (
    AgentTool("get_my_task", "get your current task"),
    AgentTool("get_phase_instructions", "read what your task's phase expects"),
    AgentTool("heartbeat", "tell the server you are still working, so your claim does not expire"),
    AgentTool("tick_done_definition", "mark one done definition of the phase as met, with evidence"),
    AgentTool("report_discovery", "record something found outside your task; it may spawn a task in any phase"),
    AgentTool("ask_human", "ask a person a question you cannot answer yourself, then end your turn: you are "
                           "resumed with the answer"),
    AgentTool("complete_task", "finish your task with a summary of the result and the files you produced"),
    AgentTool("fail_task", "give up on your task with the reason; it is retried while retries remain"),
)


@dataclass(frozen=True)
class InstructionContext:
    """Everything a section may draw on; ``uow`` is open for providers that query more.

    ``memory_semantic`` false: preloaded memories are found by their words only.
    """

    uow: UnitOfWork
    task: Task
    ticket: Ticket
    project: Project
    workflow: d.Workflow
    phase: d.Phase
    tools: tuple[AgentTool, ...]
    memory_semantic: bool = True


class InstructionSection(Protocol):
    """One part of the instructions: return Markdown (without the heading) or None to omit it."""

    title: str

    def render(self, ctx: InstructionContext) -> str | None: ...


@dataclass(frozen=True)
class _Section:
    title: str
    fn: Any

    def render(self, ctx: InstructionContext) -> str | None:
        return self.fn(ctx)


def _phase(ctx: InstructionContext) -> str:
    return f"**{ctx.phase.name}** (`{ctx.phase.id}`) of workflow `{ctx.workflow.name}`.\n\n" \
           f"{ctx.phase.description}".rstrip()


def _prompt(ctx: InstructionContext) -> str | None:
    return ctx.phase.phase_prompt.strip() or None


def _ticket(ctx: InstructionContext) -> str:
    t = ctx.ticket
    lines = [f"**#{t.id} {t.title}** — priority {t.priority}, project `{ctx.project.name}`."]
    if t.description.strip():
        lines += ["", t.description.strip()]
    return "\n".join(lines)


def _task(ctx: InstructionContext) -> str:
    t = ctx.task
    lines = [f"**Task {t.id}: {t.title}** ({t.task_type}, priority {t.priority}, "
             f"attempt {t.retry_count + 1} of {t.max_retries + 1})."]
    if t.description.strip():
        lines += ["", t.description.strip()]
    if t.retry_count and t.error:
        lines += ["", f"The previous attempt failed: {t.error.strip()}", "Fix the cause before finishing."]
    return "\n".join(lines)


def _done(ctx: InstructionContext) -> str | None:
    items = ctx.phase.done_definitions
    return "\n".join(f"- [ ] {item}" for item in items) if items else None


def _outputs(ctx: InstructionContext) -> str | None:
    outputs = ctx.phase.expected_outputs
    if not outputs:
        return None
    lines = [f"- `{o.pattern}` ({o.type}, {'required' if o.required else 'optional'})" for o in outputs]
    lines += ["", "Paths are relative to your working directory (the git worktree)."]
    if ctx.phase.permissions is Permissions.READ_ONLY:
        lines.append(f"This phase is read-only: write these files with the `{WRITE_ARTIFACT_TOOL}` tool (path, "
                     "content); any other change to the worktree is reverted and fails the task.")
    return "\n".join(lines)


def _next(ctx: InstructionContext) -> str | None:
    return "\n".join(f"- {step}" for step in ctx.phase.next_steps_guide) or None


def _tools(ctx: InstructionContext) -> str | None:
    return "\n".join(f"- `{tool.name}`: {tool.summary}" for tool in ctx.tools) or None


class CauseSection:
    """Why the task exists: the discovery that spawned it, or a validator's feedback on earlier work.

    Discoveries and validation reviews are features with tables of their own; this reads
    whichever of them are installed.
    """

    title = "Why this task exists"

    def render(self, ctx: InstructionContext) -> str | None:
        lines = self._discoveries(ctx) + self._reviews(ctx)
        return "\n".join(lines) or None

    def _discoveries(self, ctx: InstructionContext) -> list[str]:
        model = getattr(models, "TaskDiscovery", None)
        if model is None:
            return []
        rows = ctx.uow.session.scalars(select(model).where(model.ticket_id == ctx.task.ticket_id)
                                       .order_by(model.id)).all()
        # spawned_task_ids is a JSON list, so the match is made here rather than in SQL.
        return [f"- **Discovery ({r.discovery_type})** from task {r.source_task_id or '-'} "
                f"in {r.source_phase_id or '-'}: {r.description.strip()}"
                for r in rows if ctx.task.id in (r.spawned_task_ids or [])]

    def _reviews(self, ctx: InstructionContext) -> list[str]:
        model = getattr(models, "ValidationReview", None)
        if model is None:
            return []
        rows = ctx.uow.session.scalars(select(model).where(model.task_id == ctx.task.id,
                                                           model.state == "needs_work")
                                       .order_by(model.iteration)).all()
        return [f"- **Validator feedback (review {r.iteration}, needs work):** {r.feedback.strip()}"
                for r in rows if (r.feedback or "").strip()]


class _MemoryProvider:
    """Preloaded memories (see :class:`phaseloom.services.memory_preload.MemorySection`), imported lazily."""

    title = "What other agents learned"

    def render(self, ctx: InstructionContext) -> str | None:
        from phaseloom.services.memory_preload import MemorySection

        return MemorySection().render(ctx)


DEFAULT_SECTIONS: tuple[InstructionSection, ...] = (
    _Section("Phase", _phase),
    _Section("Instructions", _prompt),
    _Section("Ticket", _ticket),
    _Section("Your task", _task),
    CauseSection(),
    _Section("Done when", _done),
    _Section("Expected outputs", _outputs),
    _Section("What happens next", _next),
    _Section("Tools you may use", _tools),
    _MemoryProvider(),
)


class InstructionService:
    """Builds a task's instructions from ``sections`` (the defaults unless given).

    ``memory_semantic=False`` finds the memories to preload by their words only, so building
    instructions never waits for the embedding model (the demo runs so); the default searches as
    configured (``memory_semantic`` in the settings).
    """

    def __init__(self, uow: UnitOfWork, *, sections: tuple[InstructionSection, ...] | list | None = None,
                 tools: tuple[AgentTool, ...] = TASK_TOOLS, memory_semantic: bool = True) -> None:
        self.uow = uow
        self.sections = tuple(DEFAULT_SECTIONS if sections is None else sections)
        self.tools = tools
        self.memory_semantic = memory_semantic

    def context(self, task_id: int) -> InstructionContext:
        with self.uow:
            session = self.uow.session
            task = session.get(Task, int(task_id))
            if task is None:
                raise NotFound("task", task_id)
            ticket = session.get(Ticket, task.ticket_id)
            project = session.get(Project, task.project_id)
            workflow = WorkflowService(self.uow).by_id(task.workflow_id)
            return InstructionContext(self.uow, task, ticket, project, workflow, workflow.phase(task.phase_id),
                                      self.tools, self.memory_semantic)

    def build_instructions(self, task_id: int) -> str:
        """Render the Markdown instructions for ``task_id``."""
        with self.uow:
            ctx = self.context(task_id)
            parts = [f"# {ctx.phase.name}: {ctx.task.title}"]
            for section in self.sections:
                body = section.render(ctx)
                if body:
                    parts.append(f"## {section.title}\n\n{body.strip()}")
            return "\n\n".join(parts) + "\n"


def build_instructions(uow: UnitOfWork, task_id: int) -> str:
    """Shortcut for ``InstructionService(uow).build_instructions(task_id)``."""
    return InstructionService(uow).build_instructions(task_id)
