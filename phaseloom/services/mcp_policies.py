"""MCP tool policies: gathered from the workflow file and the API, decided by ``domain/mcp_policy``.

The workflow's ``settings.mcp_policies`` list comes first, then policies added through the API
(global ones, with no workflow, and the workflow's own). Deny wins across all of them.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from phaseloom.db.models import Agent, McpPolicyRow, Task, WorkflowRow
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.db.workflow_cache import workflow_by_id
from phaseloom.domain.permissions import IMPLIED_TOOLS
from phaseloom.domain.mcp_policy import McpPolicy, ToolDecision, decide, visible_tools
from phaseloom.domain.tasks import ACTIVE_STATUSES
from phaseloom.schemas.mcp import McpPolicySpec, parse_workflow_policies
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

_ACTIVE = [s.value for s in ACTIVE_STATUSES]


class McpPolicyService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    # -- managing API policies -----------------------------------------------------
    def add(self, spec: McpPolicySpec, *, workflow: str | int | None = None) -> McpPolicyRow:
        with self.uow:
            workflow_id = WorkflowService(self.uow).get_row_id(workflow) if workflow is not None else None
            row = McpPolicyRow(workflow_id=workflow_id, agent_type=spec.agent_type, phase=spec.phase,
                               allow=list(spec.allow), deny=list(spec.deny))
            self.uow.session.add(row)
            self.uow.session.flush()
            self.uow.emit("mcp.policy_added", "mcp_policy", row.id, payload={
                "workflow_id": workflow_id, **spec.model_dump()})
            return row

    def delete(self, policy_id: int) -> None:
        with self.uow:
            row = self.uow.session.get(McpPolicyRow, int(policy_id))
            if row is None:
                raise NotFound("MCP policy", policy_id)
            self.uow.session.delete(row)
            self.uow.emit("mcp.policy_deleted", "mcp_policy", policy_id, payload={"workflow_id": row.workflow_id})

    def list_stored(self, *, workflow: str | int | None = None) -> list[McpPolicyRow]:
        with self.uow:
            query = select(McpPolicyRow).order_by(McpPolicyRow.id)
            if workflow is not None:
                workflow_id = WorkflowService(self.uow).get_row_id(workflow)
                query = query.where(McpPolicyRow.workflow_id == workflow_id)
            return list(self.uow.session.scalars(query))

    # -- deciding ----------------------------------------------------------------
    def effective(self, workflow_id: int | None) -> list[McpPolicy]:
        """Every policy that may apply in ``workflow_id`` (None: only the global API policies)."""
        with self.uow:
            session = self.uow.session
            policies: list[McpPolicy] = []
            if workflow_id is not None:
                row = session.get(WorkflowRow, workflow_id)
                if row is None:
                    raise NotFound("workflow", workflow_id)
                try:
                    specs = parse_workflow_policies(row.settings or {})
                except ValueError as exc:
                    raise InvalidInput(f"workflow {row.name!r} has invalid settings.mcp_policies: {exc}") from exc
                policies += [s.to_domain(f"workflow {row.name}") for s in specs]
            stored = session.scalars(select(McpPolicyRow).where(or_(
                McpPolicyRow.workflow_id.is_(None), McpPolicyRow.workflow_id == workflow_id)).order_by(McpPolicyRow.id))
            policies += [McpPolicy(r.agent_type, r.phase, tuple(r.allow), tuple(r.deny), f"API policy {r.id}")
                         for r in stored]
            return policies

    def agent_scope(self, agent_id: str) -> tuple[str, str | None, int | None]:
        """The agent's type, current phase and workflow: from its active task, else its registration."""
        with self.uow:
            session = self.uow.session
            agent = session.get(Agent, agent_id)
            if agent is None:
                raise NotFound("agent", agent_id)
            task = session.scalar(select(Task).where(Task.assigned_agent_id == agent_id, Task.status.in_(_ACTIVE))
                                  .order_by(Task.claimed_at.desc(), Task.id.desc()).limit(1))
            if task is not None:
                return agent.agent_type, task.phase_id, task.workflow_id
            workflow_id = None
            if agent.project_id is not None:
                from phaseloom.services.projects import ProjectService

                workflow_id = ProjectService(self.uow).get(agent.project_id).workflow_id
            return agent.agent_type, agent.phase_id, workflow_id

    def implied_tools(self, workflow_id: int | None, phase_id: str | None) -> tuple[str, ...]:
        """The tools the phase's permissions give it on top of its policies (write_artifact when read_only)."""
        if workflow_id is None or phase_id is None:
            return ()
        workflow = workflow_by_id(self.uow, workflow_id)
        return IMPLIED_TOOLS.get(workflow.phase(phase_id).permissions, ()) if workflow.has_phase(phase_id) else ()

    def visible_tools(self, agent_id: str, tools: list[str]) -> list[str]:
        with self.uow:
            agent_type, phase_id, workflow_id = self.agent_scope(agent_id)
            return visible_tools(self.effective(workflow_id), agent_type, phase_id, tools,
                                 self.implied_tools(workflow_id, phase_id))

    def authorize_tool(self, agent_id: str, tool: str) -> ToolDecision:
        """Decide one call; a refusal is recorded as an ``mcp.tool_denied`` audit event (and committed)."""
        with self.uow:
            agent_type, phase_id, workflow_id = self.agent_scope(agent_id)
            decision = decide(self.effective(workflow_id), agent_type, phase_id, tool,
                              self.implied_tools(workflow_id, phase_id))
            if not decision.allowed:
                self.uow.emit("mcp.tool_denied", "agent", agent_id, phase_id=phase_id, payload={
                    "tool": tool, "agent_type": agent_type, "workflow_id": workflow_id, "reason": decision.reason})
            return decision
