"""The tools Hephaestus's and OmoiOS's phase prompts tell agents to call, under the peers' names.

Thin wrappers over the services, accepting the peers' argument names (``agent_id`` and
``workflow_id`` are accepted and ignored: the caller is who its token says). A wrapper that
does what another tool does is an alias (:data:`phaseloom.domain.prompt_tools.PEER_ALIASES`):
it is refused when the policy denies the tool it stands for, so a phase that denies
``complete_task`` cannot complete through ``update_task_status``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from phaseloom.domain import phases as d
from phaseloom.domain.errors import Conflict, InvalidInput
from phaseloom.domain.prompt_tools import PEER_ALIASES
from phaseloom.mcp.identity import current_agent_id
from phaseloom.schemas import mcp as out
from phaseloom.schemas.api.common import MAX_ID
from phaseloom.schemas.memory import MemorySearchResult, hit_out
from phaseloom.schemas.peer_tools import ResultSubmitted
from phaseloom.services.memory import MemoryService
from phaseloom.queue import QueueService
from phaseloom.queue import ResultService
from phaseloom.services.ticket_comments import TicketCommentService
from phaseloom.services.tickets import TicketService, is_done_phase

AnyId = Annotated[Annotated[int, Field(ge=1, le=MAX_ID)] | str | None,
                  Field(description="a numeric id (digits in a string are fine); omit for your current task's")]
Ignored = Annotated[str | None, Field(description="accepted for Hephaestus prompts; your token says who you are")]
# Hephaestus's task statuses -> phaseloom's (get_tasks); phaseloom's own names pass through.
_PEER_TASK_STATUS = {"done": "completed", "in_progress": "running", "assigned": "claimed", "queued": "pending"}
_STATUS_TOOL = {"done": "complete_task", "completed": "complete_task", "failed": "fail_task",
                "in_progress": "heartbeat", "working": "heartbeat"}


def number_id(value: int | str | None, what: str) -> int | None:
    if value is None:
        return value
    if isinstance(value, int):
        if 0 < value <= MAX_ID:
            return value
        raise ToolError(f"{what} id {value} is out of range (1 to {MAX_ID})")
    text = value.strip().removeprefix(f"{what}-")
    if text.isdigit() and 0 < int(text) <= MAX_ID:
        return int(text)
    raise ToolError(f"{what} id {value!r} is not a number; omit it to use your current task's")


class PeerTools:
    """Mixed into :class:`phaseloom.mcp.tools.PhaseloomTools` (which provides ``_uow``, ``_work``, ``settings``)."""

    def _authorize_alias(self, alias: str, target: str) -> None:
        from phaseloom.services.mcp_policies import McpPolicyService

        assert target in PEER_ALIASES[alias]
        decision = McpPolicyService(self._uow()).authorize_tool(current_agent_id(), target)
        if not decision.allowed:
            raise ToolError(f"permission denied: {decision.reason} ({alias} acts as {target} here)")

    def update_task_status(self, status: Annotated[str, Field(description="done, failed or in_progress")],
                           summary: str = "", task_id: AnyId = None,
                           key_learnings: Annotated[list[str], Field(description="what you learned")] = [],  # noqa: B006
                           failure_reason: str = "", agent_id: Ignored = None) -> out.TaskInfo:
        """Hephaestus's task update: done completes your task, failed fails it, in_progress is a heartbeat."""
        target = _STATUS_TOOL.get(status.strip().lower())
        if target is None:
            raise ToolError(f"status {status!r}: expected done, failed or in_progress")
        self._authorize_alias("update_task_status", target)
        agent, number = current_agent_id(), number_id(task_id, "task")
        if target == "heartbeat":
            self._work().heartbeat(agent, number)
            return out.TaskInfo.model_validate(self._work().current_task(agent, number))
        if target == "fail_task":
            reason = failure_reason or summary
            if not reason.strip():
                raise ToolError("a failed task needs a summary or failure_reason saying why")
            return out.TaskInfo.model_validate(self._work().fail(agent, reason, number))
        text = summary + ("\n\nKey learnings:\n" + "\n".join(f"- {k}" for k in key_learnings) if key_learnings else "")
        if not text.strip():
            raise ToolError("a done task needs a summary of what you did")
        return out.TaskInfo.model_validate(self._work().complete(agent, text, [], number))

    def create_ticket(self, title: Annotated[str, Field(min_length=1, max_length=500)], description: str = "",
                      priority: str = "medium", ticket_type: str | None = None,
                      tags: list[str] = [],  # noqa: B006
                      blocked_by_ticket_ids: Annotated[list[int], Field(description="ticket ids it waits for")] = [],  # noqa: B006
                      agent_id: Ignored = None, workflow_id: Ignored = None) -> out.TicketInfo:
        """Open a new ticket in your project (Hephaestus's create_ticket); it starts in the first phase."""
        agent = current_agent_id()
        task = self._work().current_task(agent)
        extra = [f"{label}: {value}" for label, value in (("ticket type", ticket_type),
                                                           ("tags", ", ".join(tags))) if value]
        text = description + ("\n\n" + "\n".join(extra) if extra else "")  # no such fields here: kept in the text
        ticket = TicketService(self._uow()).create_ticket(
            task.project_id, title, description=text, priority=priority.upper(), blocked_by=blocked_by_ticket_ids,
            initiated_by=f"agent:{agent}")
        return out.TicketInfo.model_validate(ticket)

    def get_tasks(self, status: str | None = None, phase_id: int | str | None = None, ticket_id: AnyId = None,
                  limit: Annotated[int, Field(ge=1, le=200)] = 50, agent_id: Ignored = None) -> list[out.TaskInfo]:
        """List the tasks of your project, optionally by status, phase (id or number) or ticket."""
        task = self._work().current_task(current_agent_id())
        workflow = self._work().workflow(current_agent_id())
        phase = phase_for(workflow, phase_id) if phase_id is not None else None
        tasks = QueueService(self._uow(), self.settings).list(
            project_id=task.project_id, phase_id=phase, status=_task_status(status) if status else None,
            ticket_id=number_id(ticket_id, "ticket"), limit=limit)
        return [out.TaskInfo.model_validate(t) for t in tasks]

    def search_tickets(self, query: Annotated[str, Field(min_length=1, max_length=500)],
                       limit: Annotated[int, Field(ge=1, le=100)] = 10, status: str | None = None,
                       agent_id: Ignored = None) -> list[out.TicketInfo]:
        """Find tickets of your project whose title or description has the words of ``query``, best first."""
        task = self._work().current_task(current_agent_id())
        words = [w for w in query.lower().split() if w]
        scored = []
        for ticket in TicketService(self._uow()).list(task.project_id, limit=5000):
            if status and status.lower() not in (ticket.status.lower(), ticket.phase_id.lower()):
                continue
            text = f"{ticket.title}\n{ticket.description}".lower()
            score = sum(text.count(word) for word in words) + 3 * sum(w in ticket.title.lower() for w in words)
            if score:
                scored.append((-score, ticket.id, ticket))
        return [out.TicketInfo.model_validate(t) for _, _, t in sorted(scored)[:limit]]

    def resolve_ticket(self, ticket_id: AnyId = None, resolution_comment: str = "", commit_sha: str | None = None,
                       agent_id: Ignored = None) -> out.TicketInfo:
        """Mark a ticket you work on as done: move it to the workflow's done phase, with your comment."""
        self._authorize_alias("resolve_ticket", "change_ticket_status")
        agent = current_agent_id()
        number = self._work().own_ticket(agent, number_id(ticket_id, "ticket"))
        tickets = TicketService(self._uow())
        workflow = self._work().workflow(agent)
        current = tickets.get(number).phase_id
        done = [pid for pid in workflow.allowed_targets(current) if is_done_phase(workflow.phase(pid))]
        if not done:
            raise Conflict(f"ticket {number} in {current} cannot move to a done phase from here "
                           f"(allowed: {', '.join(workflow.allowed_targets(current)) or 'none'})")
        comment = resolution_comment + (f"\n\ncommit: {commit_sha}" if commit_sha else "")
        if comment.strip():
            TicketCommentService(self._uow()).add(number, comment.strip(), author=f"agent:{agent}")
        return out.TicketInfo.model_validate(tickets.transition(
            number, done[0], reason=resolution_comment or "resolved", initiated_by=f"agent:{agent}"))

    def submit_result(self, markdown_file_path: Annotated[str, Field(min_length=1, description="your result file")],
                      explanation: str = "", evidence: list[str] = [],  # noqa: B006
                      extra_files: list[str] = [], agent_id: Ignored = None) -> ResultSubmitted:  # noqa: B006
        """Submit the workflow's result (a Markdown file) for validation against its result criteria."""
        agent = current_agent_id()
        task = self._work().current_task(agent)
        path = self._result_path(task, markdown_file_path)
        proof = ([explanation] if explanation else []) + list(evidence) + [f"extra file: {f}" for f in extra_files]
        row = ResultService(self._uow()).submit_result(path, ticket_id=task.ticket_id, evidence=proof,
                                                       submitted_by=f"agent:{agent}")
        return ResultSubmitted(result_id=row.id, status=row.status, validation_task_id=row.validation_task_id,
                               message=f"result {row.id} submitted; a validator checks it against the criteria")

    def _result_path(self, task, reported: str) -> Path:
        """A relative path is in the agent's workspace (confined to it) when the project has a repository."""
        from phaseloom.services.projects import ProjectService
        from phaseloom.workspaces import WorkspaceService

        if ProjectService(self._uow()).get(task.project_id).repo_path:
            root = self.settings.workspaces_home
            return WorkspaceService(self._uow(), root=root).describe(task.id, current_agent_id()).confine(reported)
        if not Path(reported).is_absolute():
            raise InvalidInput(f"{reported!r}: the project has no repository, so give the result file's full path")
        return Path(reported)

    def get_memories(self, query: str = "", memory_type: str | None = None,
                     limit: Annotated[int, Field(ge=1, le=50)] = 10, agent_id: Ignored = None) -> MemorySearchResult:
        """Hephaestus's get_memories: search what your project learned (or, with no query, what fits your task)."""
        self._authorize_alias("get_memories", "find_memories")
        if query.strip():
            return self.find_memories(query, memory_type=memory_type, limit=limit)
        task = self._work().current_task(current_agent_id())
        service = MemoryService(self._uow(), self.settings)
        hits = [h for h in service.memories_for_task(task.id, limit=limit)
                if memory_type is None or h.memory.memory_type == memory_type]
        service.record_use([h.memory.id for h in hits])
        return MemorySearchResult(query="", mode="hybrid", semantic_available=service.embedder is not None,
                                  hits=[hit_out(h) for h in hits])

    def peer_functions(self) -> list:
        return [self.update_task_status, self.create_ticket, self.get_tasks, self.search_tickets,
                self.resolve_ticket, self.submit_result, self.get_memories]


def phase_for(workflow: d.Workflow, phase: int | str) -> str:
    """A phase id, or a Hephaestus phase number (its sequence order)."""
    if isinstance(phase, int) or (isinstance(phase, str) and phase.isdigit()):
        for candidate in workflow.ordered_phases:
            if candidate.sequence_order == int(phase):
                return candidate.id
        raise ToolError(f"no phase number {phase} in workflow {workflow.name}")
    workflow.phase(phase)
    return phase


def _task_status(status: str) -> str:
    from phaseloom.domain.tasks import TaskStatus

    name = _PEER_TASK_STATUS.get(status.strip().lower(), status.strip().lower())
    if name not in {s.value for s in TaskStatus}:
        known = ", ".join([s.value for s in TaskStatus] + list(_PEER_TASK_STATUS))
        raise ToolError(f"status {status!r}: expected one of {known}")
    return name


def phase_for_status(workflow: d.Workflow, status: str) -> str:
    """Hephaestus's ``new_status``: a phase id, a board column (its first phase) or a ticket status."""
    if workflow.has_phase(status):
        return status
    for column in workflow.board_columns:
        if column.id == status and column.phase_mapping:
            return column.phase_mapping[0]
    for phase in workflow.ordered_phases:
        if workflow.status_for(phase.id) == status.lower():
            return phase.id
    known = ", ".join(p.id for p in workflow.ordered_phases)
    raise ToolError(f"new_status {status!r} is no phase, board column or status of workflow {workflow.name} "
                    f"(its phases: {known})")
