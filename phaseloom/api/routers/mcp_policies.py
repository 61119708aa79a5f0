"""``/api/mcp-policies``: MCP tool policies added at run time (the workflow file's own are read-only here)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field

from phaseloom.api.deps import Admin, Limit, Offset, Uow
from phaseloom.schemas.api.common import Page, page_of
from phaseloom.schemas.mcp import McpPolicyOut, McpPolicySpec, parse_workflow_policies
from phaseloom.services.mcp_policies import McpPolicyService
from phaseloom.services.workflows import WorkflowService

router = APIRouter(prefix="/api/mcp-policies", tags=["mcp"])
WorkflowQuery = Annotated[str | None, Query(max_length=200, description="workflow name or id")]


class McpPolicyCreate(McpPolicySpec):
    workflow: str | None = Field(default=None, max_length=200,
                                 description="workflow name or id; omit for a policy that applies everywhere")


def _out(row) -> McpPolicyOut:
    return McpPolicyOut(id=row.id, workflow_id=row.workflow_id, agent_type=row.agent_type, phase=row.phase,
                        allow=row.allow, deny=row.deny, source="api")


@router.get("", response_model=Page[McpPolicyOut])
def list_policies(uow: Uow, _admin: Admin, workflow: WorkflowQuery = None, limit: Limit = 50, offset: Offset = 0):
    """Policies added through the API; with ``workflow``, that workflow's file policies come first."""
    items: list[McpPolicyOut] = []
    if workflow is not None:
        workflow_id = WorkflowService(uow).get_row_id(workflow)
        settings = WorkflowService(uow).get(workflow).settings
        items += [McpPolicyOut(**spec.model_dump(), workflow_id=workflow_id, source="workflow")
                  for spec in parse_workflow_policies(settings)]
    items += [_out(row) for row in McpPolicyService(uow).list_stored(workflow=workflow)]
    return page_of(items[offset:offset + limit], limit, offset)


@router.post("", response_model=McpPolicyOut, status_code=201)
def add_policy(body: McpPolicyCreate, uow: Uow, _admin: Admin) -> McpPolicyOut:
    spec = McpPolicySpec.model_validate(body.model_dump(exclude={"workflow"}))
    return _out(McpPolicyService(uow).add(spec, workflow=body.workflow))


@router.delete("/{policy_id}", status_code=204, response_class=Response)
def delete_policy(policy_id: Annotated[int, Path(ge=1, le=2**31 - 1)], uow: Uow, _admin: Admin) -> Response:
    McpPolicyService(uow).delete(policy_id)
    return Response(status_code=204)
