"""Bearer tokens for the HTTP API, the WebSocket and MCP: who is calling, and what they may touch.

There are two kinds of token. An **admin** token (created by ``phaseloom init`` or
``phaseloom token create-admin``) may do anything. An **agent** token is issued when an agent
registers and may act only on that agent's own tasks and on the tickets those tasks belong to.

Only the SHA-256 of a token is stored. A token names the row that holds its hash
(``plt_admin_<id>.<secret>``, ``plt_agent_<agent id>.<secret>``), so checking one is a primary-key
lookup and a constant-time comparison, never a search by secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update

from phaseloom.db.models import Agent, ApiToken, Task
from phaseloom.db.models.base import utcnow
from phaseloom.domain.errors import Forbidden, NotFound, Unauthenticated
from phaseloom.domain.identifiers import is_number
from phaseloom.db.unit_of_work import UnitOfWork

ADMIN_PREFIX = "plt_admin_"
AGENT_PREFIX = "plt_agent_"
_MAX_TOKEN_LENGTH = 512
# Compared against when the named row does not exist, so a miss costs what a hit costs.
_DUMMY_HASH = hashlib.sha256(b"phaseloom-no-such-token").hexdigest()


@dataclass(frozen=True)
class Principal:
    """The caller behind a request: an admin, or one agent (with the project it is bound to)."""

    kind: Literal["admin", "agent"]
    agent_id: str | None = None
    project_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    @property
    def name(self) -> str:
        """How this caller appears in history and events (``initiated_by``)."""
        return "admin" if self.is_admin else f"agent:{self.agent_id}"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this needs an admin token; agent tokens may act only on their own tasks")

    @property
    def bound_project(self) -> int | None:
        """The one project this caller may read, or None when it may read all (an admin, or an
        agent registered without a project: a cross-project agent)."""
        return None if self.is_admin else self.project_id

    def readable_project(self, requested: int | None) -> int | None:
        """The project a read is limited to: ``requested`` (None: all), or, for an agent bound to a
        project, its own; asking such an agent's read for another project is :class:`Forbidden`."""
        own = self.bound_project
        if own is None:
            return requested
        if requested not in (None, own):
            raise Forbidden(f"agent {self.agent_id} may read project {own} only")
        return own


ADMIN = Principal(kind="admin")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _matches(stored: str | None, token: str) -> bool:
    return hmac.compare_digest(stored or _DUMMY_HASH, hash_token(token)) and stored is not None


class AuthService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    # -- issuing -----------------------------------------------------------------
    def create_admin_token(self, *, label: str = "", rotate: bool = True) -> str:
        """Create an admin token and return it; it cannot be read back later.

        With ``rotate`` (the default) every earlier admin token stops working.
        """
        with self.uow:
            session = self.uow.session
            if rotate:
                session.execute(update(ApiToken).where(ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
            row = ApiToken(kind="admin", label=label, token_hash=_DUMMY_HASH)
            session.add(row)
            session.flush()
            token = f"{ADMIN_PREFIX}{row.id}.{secrets.token_urlsafe(32)}"
            row.token_hash = hash_token(token)
            self.uow.emit("auth.admin_token_created", "api_token", row.id,
                          payload={"label": label, "rotated": rotate})
            return token

    def has_admin_token(self) -> bool:
        """Whether auth is configured: at least one admin token that is not revoked."""
        with self.uow:
            return self.uow.session.scalar(
                select(ApiToken.id).where(ApiToken.revoked_at.is_(None)).limit(1)) is not None

    def issue_agent_token(self, agent_id: str) -> str:
        """Give an agent a new token (any earlier one stops working) and return it once."""
        with self.uow:
            agent = self.uow.session.get(Agent, agent_id)
            if agent is None:
                raise NotFound("agent", agent_id)
            token = f"{AGENT_PREFIX}{agent.id}.{secrets.token_urlsafe(32)}"
            agent.token_hash = hash_token(token)
            return token

    def register_agent(self, name: str, **details) -> tuple[Agent, str]:
        """Register an agent (see :meth:`AgentService.register_agent`) and issue its token."""
        from phaseloom.services.agents import AgentService

        with self.uow:
            agent = AgentService(self.uow).register_agent(name, **details)
            return agent, self.issue_agent_token(agent.id)

    # -- checking ----------------------------------------------------------------
    def authenticate(self, token: str | None) -> Principal:
        """The principal a bearer token belongs to, or :class:`Unauthenticated`."""
        if not token:
            raise Unauthenticated("missing bearer token (send 'Authorization: Bearer <token>')")
        if len(token) > _MAX_TOKEN_LENGTH or "." not in token:
            raise Unauthenticated("invalid or revoked token")
        ident, _, _secret = token.rpartition(".")
        with self.uow:
            if ident.startswith(ADMIN_PREFIX):
                return self._admin(ident.removeprefix(ADMIN_PREFIX), token)
            if ident.startswith(AGENT_PREFIX):
                return self._agent(ident.removeprefix(AGENT_PREFIX), token)
        raise Unauthenticated("invalid or revoked token")

    def _admin(self, ident: str, token: str) -> Principal:
        row = None
        if is_number(ident) and len(ident) < 10:
            row = self.uow.session.get(ApiToken, int(ident))
        if not _matches(row.token_hash if row else None, token) or row.revoked_at is not None:
            raise Unauthenticated("invalid or revoked token")
        return ADMIN

    def _agent(self, agent_id: str, token: str) -> Principal:
        agent = self.uow.session.get(Agent, agent_id) if 0 < len(agent_id) <= 64 else None
        if not _matches(agent.token_hash if agent else None, token):
            raise Unauthenticated("invalid or revoked token")
        if agent.status == "deregistered":
            raise Unauthenticated(f"agent {agent.id} is deregistered")
        return Principal(kind="agent", agent_id=agent.id, project_id=agent.project_id)

    # -- authorising -------------------------------------------------------------
    def authorize_task(self, principal: Principal, task_id: int) -> None:
        """Agents may act only on tasks assigned to them."""
        if principal.is_admin:
            return
        with self.uow:
            task = self.uow.session.get(Task, int(task_id))
            if task is None:
                raise NotFound("task", task_id)
            if task.assigned_agent_id != principal.agent_id:
                raise Forbidden(f"task {task.id} is not assigned to agent {principal.agent_id}")

    def authorize_ticket(self, principal: Principal, ticket_id: int) -> None:
        """Agents may act only on tickets they hold (or held) a task of."""
        if principal.is_admin:
            return
        with self.uow:
            held = self.uow.session.scalar(
                select(Task.id).where(Task.ticket_id == int(ticket_id),
                                      Task.assigned_agent_id == principal.agent_id).limit(1))
            if held is None:
                raise Forbidden(f"agent {principal.agent_id} has no task on ticket {ticket_id}")

    def authorize_agent(self, principal: Principal, agent_id: str) -> None:
        """Agents may act only as themselves."""
        if not principal.is_admin and principal.agent_id != agent_id:
            raise Forbidden(f"an agent token may act only as agent {principal.agent_id}")
