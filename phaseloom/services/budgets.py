"""Budgets: spending limits per project, ticket, phase or agent that stop new claims when reached.

Each budget carries ``spent`` (bumped by :meth:`BudgetService.charge` in the transaction that
records the cost) and an ``exhausted`` flag. The queue's claim statement tests that flag with a
``NOT EXISTS`` over the budgets table (see :func:`phaseloom.db.models.costs.budget_covers`), so
enforcing a budget costs the claim one probe of a small table, never a sum over cost records.
Tasks already running finish; raising the limit clears the flag and the next claim picks the scope's tasks up again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select, update

from phaseloom.db.models import Agent, Project, Ticket
from phaseloom.db.models.costs import Budget, CostRecord, budget_covers
from phaseloom.db.models.base import utcnow
from phaseloom.domain.costs import BUDGET_SCOPES, threshold_crossings
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.domain.identifiers import is_number
from phaseloom.db.unit_of_work import UnitOfWork

DEFAULT_ALERT_THRESHOLD = 0.8


class BudgetService:
    def __init__(self, uow: UnitOfWork, currency: str = "USD") -> None:
        self.uow = uow
        self.currency = currency

    def create(self, scope: str, limit_amount: float, *, project: int | str | None = None,
               ticket_id: int | None = None, phase_id: str | None = None, agent_id: str | None = None,
               alert_threshold: float = DEFAULT_ALERT_THRESHOLD) -> Budget:
        """Add a budget; what the scope has spent so far counts against it at once."""
        _check_numbers(limit_amount, alert_threshold)
        with self.uow:
            budget = Budget(scope=scope, limit_amount=float(limit_amount), alert_threshold=float(alert_threshold),
                            currency=self.currency, **self._scope_keys(scope, project, ticket_id, phase_id, agent_id))
            budget.spent = self._spent_so_far(budget)
            budget.warned = budget.exhausted = False
            self.uow.session.add(budget)
            self.uow.session.flush()
            self.uow.emit("cost.budget.created", "budget", budget.id, project_id=budget.project_id,
                          ticket_id=budget.ticket_id, phase_id=budget.phase_id, payload=budget_view(budget))
            self._apply_thresholds(budget)
            return budget

    def update(self, budget_id: int, *, limit_amount: float | None = None,
               alert_threshold: float | None = None) -> Budget:
        """Change a limit or threshold; raising the limit above what was spent resumes claims."""
        with self.uow:
            budget = self.get(budget_id)
            _check_numbers(budget.limit_amount if limit_amount is None else limit_amount,
                           budget.alert_threshold if alert_threshold is None else alert_threshold)
            if limit_amount is not None:
                budget.limit_amount = float(limit_amount)
            if alert_threshold is not None:
                budget.alert_threshold = float(alert_threshold)
            budget.updated_at = utcnow()
            self.uow.emit("cost.budget.updated", "budget", budget.id, project_id=budget.project_id,
                          ticket_id=budget.ticket_id, phase_id=budget.phase_id, payload=budget_view(budget))
            self._apply_thresholds(budget)
            return budget

    def delete(self, budget_id: int) -> None:
        with self.uow:
            budget = self.get(budget_id)
            self.uow.session.delete(budget)
            self.uow.emit("cost.budget.deleted", "budget", budget_id, project_id=budget.project_id,
                          ticket_id=budget.ticket_id, phase_id=budget.phase_id, payload=budget_view(budget))

    def get(self, budget_id: int) -> Budget:
        with self.uow:
            budget = self.uow.session.get(Budget, int(budget_id))
            if budget is None:
                raise NotFound("budget", budget_id)
            return budget

    def list(self, *, project_id: int | None = None, exhausted: bool | None = None) -> list[Budget]:
        with self.uow:
            query = select(Budget).order_by(Budget.id)
            if project_id is not None:
                query = query.where(Budget.project_id == project_id)
            if exhausted is not None:
                query = query.where(Budget.exhausted.is_(exhausted))
            return list(self.uow.session.scalars(query))

    def charge(self, amount: float, *, project_id: int, ticket_id: int | None, phase_id: str,
               agent_id: str | None) -> list[Budget]:
        """Add ``amount`` to every budget covering this work, raising warnings and stops it crosses."""
        with self.uow:
            session = self.uow.session
            # One atomic increment: concurrent charges never lose an update, and the row locks
            # serialise the threshold checks below, so each crossing is reported exactly once.
            ids = session.scalars(
                update(Budget).where(budget_covers(project_id, ticket_id, phase_id, agent_id))
                .values(spent=Budget.spent + float(amount)).returning(Budget.id)
                .execution_options(synchronize_session=False)).all()
            if not ids:
                return []
            budgets = list(session.scalars(select(Budget).where(Budget.id.in_(ids)).order_by(Budget.id)
                                           .execution_options(populate_existing=True)))
            for budget in budgets:
                self._apply_thresholds(budget)
            return budgets

    # -- internals ---------------------------------------------------------------
    def _apply_thresholds(self, budget: Budget) -> None:
        budget.warned, budget.exhausted, events = threshold_crossings(
            budget.spent, budget.limit_amount, budget.alert_threshold, budget.warned, budget.exhausted)
        for event_type in events:
            self.uow.emit(event_type, "budget", budget.id, project_id=budget.project_id, ticket_id=budget.ticket_id,
                          phase_id=budget.phase_id, payload=budget_view(budget))
        self.uow.session.flush()

    def _scope_keys(self, scope: str, project: int | str | None, ticket_id: int | None, phase_id: str | None,
                    agent_id: str | None) -> dict[str, Any]:
        session = self.uow.session
        if scope not in BUDGET_SCOPES:
            raise InvalidInput(f"unknown budget scope {scope!r}; use one of {', '.join(BUDGET_SCOPES)}")
        project_id = project_id_of(session, project)
        if scope == "project" and project_id is None:
            raise InvalidInput("a project budget needs a project")
        if scope == "ticket":
            ticket = session.get(Ticket, int(ticket_id)) if ticket_id is not None else None
            if ticket is None:
                raise NotFound("ticket", ticket_id) if ticket_id is not None else InvalidInput(
                    "a ticket budget needs a ticket")
            return {"project_id": ticket.project_id, "ticket_id": ticket.id}
        if scope == "phase":
            if not phase_id:
                raise InvalidInput("a phase budget needs a phase")
            return {"project_id": project_id, "phase_id": phase_id}
        if scope == "agent":
            if not agent_id or session.get(Agent, agent_id) is None:
                raise NotFound("agent", agent_id) if agent_id else InvalidInput("an agent budget needs an agent")
            return {"agent_id": agent_id}
        return {"project_id": project_id}

    def _spent_so_far(self, budget: Budget) -> float:
        # A scan of the scope's cost records, once, when the budget is created.
        covered = {"project": CostRecord.project_id == budget.project_id,
                   "ticket": CostRecord.ticket_id == budget.ticket_id,
                   "agent": CostRecord.agent_id == budget.agent_id}.get(budget.scope)
        if budget.scope == "phase":
            covered = CostRecord.phase_id == budget.phase_id
            if budget.project_id is not None:
                covered = and_(covered, CostRecord.project_id == budget.project_id)
        return float(self.uow.session.scalar(select(func.coalesce(func.sum(CostRecord.amount), 0.0))
                                             .where(covered)) or 0.0)


def project_id_of(session, project: int | str | None) -> int | None:
    """A project's id from its id or name (None stays None)."""
    if project is None:
        return None
    by_id = isinstance(project, int) or is_number(str(project))
    found = session.scalar(select(Project.id).where(
        Project.id == int(project) if by_id else Project.name == project))
    if found is None:
        raise NotFound("project", project)
    return found


def budget_view(budget: Budget) -> dict[str, Any]:
    """A budget as plain data (event payloads, the API and the CLI)."""
    return {"id": budget.id, "scope": budget.scope, "project_id": budget.project_id, "ticket_id": budget.ticket_id,
            "phase_id": budget.phase_id, "agent_id": budget.agent_id, "limit": budget.limit_amount,
            "spent": round(budget.spent, 6), "currency": budget.currency, "alert_threshold": budget.alert_threshold,
            "warned": budget.warned, "exhausted": budget.exhausted}


def _check_numbers(limit_amount: float, alert_threshold: float) -> None:
    if limit_amount < 0:
        raise InvalidInput("a budget limit cannot be negative")
    if not 0 < alert_threshold <= 1:
        raise InvalidInput("the alert threshold is a fraction of the limit, above 0 and at most 1")
