"""The agent registry (minimal for now: register, list, get)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from phaseloom.db.models import Agent
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.services.unit_of_work import UnitOfWork


class AgentService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def register_agent(self, name: str, *, agent_type: str = "worker", runtime: str = "scripted",
                       phase_id: str | None = None, capabilities: list[str] | None = None,
                       capacity: int = 1, project_id: int | None = None, agent_id: str | None = None) -> Agent:
        if not name.strip():
            raise InvalidInput("an agent needs a name")
        with self.uow:
            agent = Agent(id=agent_id or uuid.uuid4().hex[:12], name=name.strip(), agent_type=agent_type,
                          runtime=runtime, phase_id=phase_id, capabilities=sorted(set(capabilities or [])),
                          capacity=capacity, project_id=project_id)
            self.uow.session.add(agent)
            self.uow.session.flush()
            self.uow.emit("agent.registered", "agent", agent.id, project_id=project_id, phase_id=phase_id,
                          payload={"name": agent.name, "agent_type": agent_type, "runtime": runtime,
                                   "capabilities": agent.capabilities})
            return agent

    def get(self, agent_id: str) -> Agent:
        with self.uow:
            agent = self.uow.session.get(Agent, agent_id)
            if agent is None:
                raise NotFound("agent", agent_id)
            return agent

    def list(self) -> list[Agent]:
        with self.uow:
            return list(self.uow.session.scalars(select(Agent).order_by(Agent.created_at)))
