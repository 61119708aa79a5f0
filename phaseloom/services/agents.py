"""The agent registry: register, heartbeat, deregister, and notice agents that went silent.

An agent's ``status`` is its liveness (``idle``, ``busy``, ``offline``, ``deregistered``); its
``health`` is how its recent runs went (``healthy``, ``degraded``, ``unhealthy``), derived from
consecutive failures. An agent whose heartbeats stop is marked offline by
:meth:`AgentService.mark_stale_agents`, and the tasks it held go back to the queue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from phaseloom.db.models import Agent, Task
from phaseloom.db.models.base import utcnow
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain.errors import Conflict, InvalidInput, NotFound
from phaseloom.domain.tasks import ACTIVE_STATUSES
from phaseloom.queue import TaskLifecycle

AGENT_TYPES = ("worker", "validator", "diagnostician", "reviewer", "monitor")
LIVE_STATUSES = ("idle", "busy")
# Failures in a row before an agent counts as degraded / unhealthy (no more dispatching to it).
DEGRADED_AFTER = 2
UNHEALTHY_AFTER = 5
_ACTIVE = [s.value for s in ACTIVE_STATUSES]


@dataclass(frozen=True)
class AgentHealth:
    agent_id: str
    status: str
    health: str
    active_tasks: int
    capacity: int
    consecutive_failures: int
    seconds_since_heartbeat: float | None
    last_error: str | None

    @property
    def free_slots(self) -> int:
        if self.status not in LIVE_STATUSES or self.health == "unhealthy":
            return 0
        return max(0, self.capacity - self.active_tasks)


def health_for(consecutive_failures: int) -> str:
    if consecutive_failures >= UNHEALTHY_AFTER:
        return "unhealthy"
    if consecutive_failures >= DEGRADED_AFTER:
        return "degraded"
    return "healthy"


class AgentService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    # -- joining and leaving -----------------------------------------------------
    def register_agent(self, name: str, *, agent_type: str = "worker", runtime: str = "scripted",
                       phase_id: str | None = None, capabilities: list[str] | None = None,
                       capacity: int = 1, project_id: int | None = None, agent_id: str | None = None,
                       host: str = "") -> Agent:
        """Add an agent to the registry; registering an existing id again brings it back online."""
        if not name.strip():
            raise InvalidInput("an agent needs a name")
        if capacity < 1:
            raise InvalidInput("an agent's capacity must be at least 1")
        with self.uow:
            session = self.uow.session
            agent = session.get(Agent, agent_id) if agent_id else None
            if agent is None:
                agent = Agent(id=agent_id or uuid.uuid4().hex[:12])
                session.add(agent)
            agent.name, agent.agent_type, agent.runtime = name.strip(), agent_type, runtime
            agent.phase_id, agent.project_id, agent.capacity, agent.host = phase_id, project_id, capacity, host
            agent.capabilities = sorted(set(capabilities or []))
            agent.status, agent.last_heartbeat_at = "idle", utcnow()
            session.flush()
            self.uow.emit("agent.registered", "agent", agent.id, project_id=project_id, phase_id=phase_id,
                          payload={"name": agent.name, "agent_type": agent_type, "runtime": runtime,
                                   "capabilities": agent.capabilities, "capacity": capacity, "host": host})
            return agent

    def deregister(self, agent_id: str, *, reason: str = "deregistered") -> list[int]:
        """Take an agent out of service; the tasks it still held go back to the queue.

        A deliberate departure does not count against the tasks' retries. Returns their ids.
        """
        with self.uow:
            agent = self._row(agent_id, for_update=True)
            released = TaskLifecycle(self.uow).release_tasks_of(agent.id, reason)
            agent.status = "deregistered"
            self.uow.emit("agent.deregistered", "agent", agent.id, project_id=agent.project_id,
                          payload={"reason": reason, "released_tasks": released})
            return released

    # -- liveness ----------------------------------------------------------------
    def heartbeat(self, agent_id: str) -> Agent:
        """Record that the agent is alive; an offline agent comes back online."""
        with self.uow:
            agent = self._row(agent_id, for_update=True)
            if agent.status == "deregistered":
                raise Conflict(f"agent {agent.id} is deregistered; register it again to use it")
            was_offline = agent.status == "offline"
            agent.last_heartbeat_at = utcnow()
            agent.status = "busy" if self._active_count(agent.id) >= agent.capacity else "idle"
            if was_offline:
                self.uow.emit("agent.online", "agent", agent.id, project_id=agent.project_id, payload={})
            return agent

    def mark_stale_agents(self, threshold_seconds: float) -> list[str]:
        """Mark agents silent for longer than ``threshold_seconds`` offline and reap their leases.

        Their claimed or running tasks are returned to the queue through the queue's own lease
        reaping (a vanished agent counts as a failed attempt, as an expired lease does).
        Returns the ids of the agents marked offline.
        """
        with self.uow:
            session = self.uow.session
            cutoff = utcnow() - timedelta(seconds=threshold_seconds)
            stale = session.scalars(
                select(Agent).where(Agent.status.in_(LIVE_STATUSES), Agent.last_heartbeat_at < cutoff)
                .order_by(Agent.id).with_for_update(skip_locked=True)
            ).all()
            if not stale:
                return []
            ids = [a.id for a in stale]
            # Expire their leases now, then let the queue reap them like any other expired lease.
            lifecycle = TaskLifecycle(self.uow)
            lifecycle.expire_leases_of(ids)
            reaped = lifecycle.reap_expired_leases()
            for agent in stale:
                agent.status = "offline"
                self.uow.emit("agent.offline", "agent", agent.id, project_id=agent.project_id,
                              payload={"last_heartbeat_at": _iso(agent.last_heartbeat_at),
                                       "threshold_seconds": threshold_seconds, "reaped_tasks": reaped})
            return ids

    # -- capacity and health -----------------------------------------------------
    def set_capacity(self, agent_id: str, capacity: int) -> Agent:
        if capacity < 1:
            raise InvalidInput("an agent's capacity must be at least 1")
        with self.uow:
            agent = self._row(agent_id, for_update=True)
            agent.capacity = capacity
            self.uow.emit("agent.updated", "agent", agent.id, project_id=agent.project_id,
                          payload={"capacity": capacity})
            return agent

    def record_run(self, agent_id: str, *, succeeded: bool, error: str | None = None) -> Agent:
        """Count a finished run towards the agent's health."""
        with self.uow:
            agent = self._row(agent_id, for_update=True)
            before = agent.health
            agent.consecutive_failures = 0 if succeeded else agent.consecutive_failures + 1
            agent.last_error = None if succeeded else (error or "failed")[:2000]
            agent.health = health_for(agent.consecutive_failures)
            if agent.health != before:
                self.uow.emit("agent.health_changed", "agent", agent.id, project_id=agent.project_id,
                              payload={"from": before, "to": agent.health,
                                       "consecutive_failures": agent.consecutive_failures})
            return agent

    def health(self, agent_id: str) -> AgentHealth:
        with self.uow:
            agent = self._row(agent_id)
            return self._health(agent, self._active_count(agent.id))

    def health_report(self) -> list[AgentHealth]:
        """Every registered agent's health, in registration order."""
        with self.uow:
            session = self.uow.session
            loads = dict(session.execute(
                select(Task.assigned_agent_id, func.count()).where(Task.status.in_(_ACTIVE))
                .group_by(Task.assigned_agent_id)).all())
            agents = session.scalars(select(Agent).order_by(Agent.created_at, Agent.id)).all()
            return [self._health(a, loads.get(a.id, 0)) for a in agents]

    # -- reading -----------------------------------------------------------------
    def get(self, agent_id: str) -> Agent:
        with self.uow:
            return self._row(agent_id)

    def list(self, *, status: str | None = None) -> list[Agent]:
        with self.uow:
            query = select(Agent).order_by(Agent.created_at, Agent.id)
            if status:
                query = query.where(Agent.status == status)
            return list(self.uow.session.scalars(query))

    # -- internals ---------------------------------------------------------------
    def _active_count(self, agent_id: str) -> int:
        return self.uow.session.scalar(
            select(func.count()).select_from(Task).where(Task.assigned_agent_id == agent_id,
                                                         Task.status.in_(_ACTIVE))) or 0

    def _health(self, agent: Agent, active: int) -> AgentHealth:
        seen = agent.last_heartbeat_at
        age = None
        if seen is not None:
            age = (utcnow() - _aware(seen)).total_seconds()
        return AgentHealth(agent_id=agent.id, status=agent.status, health=agent.health, active_tasks=active,
                           capacity=agent.capacity, consecutive_failures=agent.consecutive_failures,
                           seconds_since_heartbeat=age, last_error=agent.last_error)

    def _row(self, agent_id: str, *, for_update: bool = False) -> Agent:
        query = select(Agent).where(Agent.id == agent_id)
        if for_update:
            query = query.with_for_update()
        agent = self.uow.session.scalar(query)
        if agent is None:
            raise NotFound("agent", agent_id)
        return agent


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return _aware(moment).isoformat() if moment else None
