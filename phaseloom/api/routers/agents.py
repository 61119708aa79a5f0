"""``/api/agents``: register (returns the agent's token once), list, show, heartbeat."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from phaseloom.api.deps import Admin, Caller, Limit, Offset, Uow
from phaseloom.api.scoping import may_read, require_readable
from phaseloom.schemas.api.agents import AgentOut, AgentRegister, AgentRegistered
from phaseloom.schemas.api.common import Page, page_of
from phaseloom.services.agents import AgentService
from phaseloom.services.auth import AuthService

router = APIRouter(prefix="/api/agents", tags=["agents"])
AgentId = Annotated[str, Path(max_length=64)]


@router.post("", response_model=AgentRegistered, status_code=201)
def register_agent(body: AgentRegister, uow: Uow, _admin: Admin) -> AgentRegistered:
    agent, token = AuthService(uow).register_agent(**body.model_dump())
    return AgentRegistered(agent=AgentOut.model_validate(agent), token=token)


@router.get("", response_model=Page[AgentOut])
def list_agents(uow: Uow, caller: Caller, status: Annotated[str | None, Query(max_length=20)] = None,
                limit: Limit = 50, offset: Offset = 0):
    agents = [a for a in AgentService(uow).list(status=status) if may_read(caller, a.project_id, owner_agent_id=a.id)]
    return page_of(agents[offset:offset + limit], limit, offset)


@router.get("/{agent_id}", response_model=AgentOut)
def show_agent(agent_id: AgentId, uow: Uow, caller: Caller) -> AgentOut:
    agent = AgentService(uow).get(agent_id)
    require_readable(caller, agent.project_id, what="agent", owner_agent_id=agent.id)
    return AgentOut.model_validate(agent)


@router.post("/{agent_id}/heartbeat", response_model=AgentOut)
def heartbeat_agent(agent_id: AgentId, uow: Uow, caller: Caller) -> AgentOut:
    AuthService(uow).authorize_agent(caller, agent_id)
    return AgentOut.model_validate(AgentService(uow).heartbeat(agent_id))
