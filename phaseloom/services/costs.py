"""Costs: record the tokens a task's model calls used, price them, and add them up.

Prices come from the ``pricing`` table of the settings (per model, per million input and output
tokens, with a ``default``). Recording a cost also charges every budget that covers the task, in
the same transaction (see :mod:`phaseloom.services.budgets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from phaseloom.config import Settings
from phaseloom.db.models import Task
from phaseloom.db.models.costs import CostRecord
from phaseloom.db.models.base import utcnow
from phaseloom.domain.costs import UsageReport, price_of
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.services.budgets import BudgetService, project_id_of
from phaseloom.db.unit_of_work import UnitOfWork

GROUPS = {"phase": CostRecord.phase_id, "ticket": CostRecord.ticket_id, "project": CostRecord.project_id,
          "agent": CostRecord.agent_id, "model": CostRecord.model}


@dataclass(frozen=True)
class CostGroup:
    """Spending of one group (a phase, ticket, project, agent or model) over a window."""

    key: str | None
    amount: float
    input_tokens: int
    output_tokens: int
    records: int
    currency: str


class CostService:
    def __init__(self, uow: UnitOfWork, settings: Settings) -> None:
        self.uow = uow
        self.settings = settings

    def price(self, model: str, input_tokens: int, output_tokens: int) -> float:
        table = {name: (p.input_per_million, p.output_per_million) for name, p in self.settings.pricing.items()}
        return price_of(model, input_tokens, output_tokens, table)

    def record_usage(self, task_id: int, agent_id: str | None, model: str, input_tokens: int, output_tokens: int,
                     *, source: str = "runtime", reported_usd: float | None = None) -> CostRecord:
        """Record one model call (or one agent run) of ``task_id``; returns the priced record.

        ``reported_usd`` is the agent's own figure; it wins over the pricing table when the
        currency is USD (the CLI knows its provider's prices and discounts better than a table).
        """
        if input_tokens < 0 or output_tokens < 0:
            raise InvalidInput("token counts cannot be negative")
        if not model or not model.strip():
            raise InvalidInput("a usage report needs the model's name")
        with self.uow:
            task = self.uow.session.get(Task, int(task_id))
            if task is None:
                raise NotFound("task", task_id)
            agent_id = agent_id or task.assigned_agent_id
            record = CostRecord(task_id=task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                                phase_id=task.phase_id, agent_id=agent_id, model=model.strip(),
                                input_tokens=int(input_tokens), output_tokens=int(output_tokens),
                                amount=self._amount(model.strip(), int(input_tokens), int(output_tokens),
                                                    reported_usd),
                                currency=self.settings.currency, source=source, created_at=utcnow())
            self.uow.session.add(record)
            self.uow.session.flush()
            self.uow.emit("cost.recorded", "task", task.id, project_id=task.project_id, ticket_id=task.ticket_id,
                          phase_id=task.phase_id, payload={
                              "agent_id": agent_id, "model": record.model, "input_tokens": record.input_tokens,
                              "output_tokens": record.output_tokens, "amount": record.amount,
                              "currency": record.currency, "source": source})
            if record.amount > 0:
                BudgetService(self.uow, self.settings.currency).charge(
                    record.amount, project_id=task.project_id, ticket_id=task.ticket_id, phase_id=task.phase_id,
                    agent_id=agent_id)
            return record

    def _amount(self, model: str, input_tokens: int, output_tokens: int, reported_usd: float | None) -> float:
        if reported_usd is not None and reported_usd >= 0 and self.settings.currency.upper() == "USD":
            return float(reported_usd)
        return self.price(model, input_tokens, output_tokens)

    def record_reports(self, task_id: int, agent_id: str | None, reports: list[UsageReport], *,
                       source: str = "agent_output") -> list[CostRecord]:
        with self.uow:
            return [self.record_usage(task_id, agent_id, r.model, r.input_tokens, r.output_tokens, source=source,
                                      reported_usd=r.cost_usd)
                    for r in reports]

    def totals(self, group_by: str = "phase", *, since: datetime | None = None, until: datetime | None = None,
               project: int | str | None = None) -> list[CostGroup]:
        """Spending grouped by phase, ticket, project, agent or model, most expensive first."""
        column = GROUPS.get(group_by)
        if column is None:
            raise InvalidInput(f"cannot group costs by {group_by!r}; use one of {', '.join(GROUPS)}")
        with self.uow:
            project_id = project_id_of(self.uow.session, project)
            amount = func.sum(CostRecord.amount)
            query = (select(column, amount, func.sum(CostRecord.input_tokens), func.sum(CostRecord.output_tokens),
                            func.count(CostRecord.id)).group_by(column).order_by(amount.desc(), column))
            if since is not None:
                query = query.where(CostRecord.created_at >= since)
            if until is not None:
                query = query.where(CostRecord.created_at < until)
            if project_id is not None:
                query = query.where(CostRecord.project_id == project_id)
            return [CostGroup(None if key is None else str(key), float(total or 0), int(i or 0), int(o or 0), int(n),
                              self.settings.currency)
                    for key, total, i, o, n in self.uow.session.execute(query)]

    def records(self, task_id: int) -> list[CostRecord]:
        with self.uow:
            return list(self.uow.session.scalars(select(CostRecord).where(CostRecord.task_id == int(task_id))
                                                 .order_by(CostRecord.id)))
