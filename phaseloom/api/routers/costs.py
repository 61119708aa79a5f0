"""``/api/costs`` (spending grouped by phase, ticket, project, agent or model) and ``/api/budgets``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from phaseloom.api.deps import Admin, AppSettings, Caller, Uow
from phaseloom.api.scoping import may_read, readable_project_ref, require_readable
from phaseloom.schemas.api.common import MAX_ID
from phaseloom.schemas.costs import BudgetChange, BudgetIn, BudgetOut, CostGroupOut, CostRecordOut, CostTotalsOut
from phaseloom.services.auth import AuthService
from phaseloom.services.budgets import BudgetService, budget_view
from phaseloom.services.costs import CostService

router = APIRouter(tags=["costs"])
GroupBy = Literal["phase", "ticket", "project", "agent", "model"]
BudgetId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/api/costs", response_model=CostTotalsOut)
def cost_totals(uow: Uow, settings: AppSettings, caller: Caller, group_by: GroupBy = "phase",
                since: datetime | None = None, until: datetime | None = None,
                project: Annotated[str | None, Query(max_length=200, description="project id or name")] = None,
                ) -> CostTotalsOut:
    project = readable_project_ref(uow, caller, project)
    groups = CostService(uow, settings).totals(group_by, since=since, until=until, project=project)
    return CostTotalsOut(group_by=group_by, since=since, total=sum(g.amount for g in groups),
                         currency=settings.currency, groups=[CostGroupOut(**g.__dict__) for g in groups])


@router.get("/api/costs/tasks/{task_id}", response_model=list[CostRecordOut])
def task_costs(task_id: Annotated[int, Path(ge=1, le=MAX_ID)], uow: Uow, settings: AppSettings,
               caller: Caller) -> list[CostRecordOut]:
    AuthService(uow).authorize_task(caller, task_id)  # as for the task itself
    return [CostRecordOut.model_validate(r) for r in CostService(uow, settings).records(task_id)]


@router.get("/api/budgets", response_model=list[BudgetOut])
def list_budgets(uow: Uow, caller: Caller, exhausted: bool | None = None) -> list[BudgetOut]:
    with uow:
        return [BudgetOut(**budget_view(b)) for b in BudgetService(uow).list(exhausted=exhausted)
                if may_read(caller, b.project_id, owner_agent_id=b.agent_id)]


@router.post("/api/budgets", response_model=BudgetOut, status_code=201)
def create_budget(body: BudgetIn, uow: Uow, settings: AppSettings, _admin: Admin) -> BudgetOut:
    with uow:
        budget = BudgetService(uow, settings.currency).create(
            body.scope, body.limit, project=body.project, ticket_id=body.ticket_id, phase_id=body.phase_id,
            agent_id=body.agent_id, alert_threshold=body.alert_threshold)
        return BudgetOut(**budget_view(budget))


@router.get("/api/budgets/{budget_id}", response_model=BudgetOut)
def get_budget(budget_id: BudgetId, uow: Uow, caller: Caller) -> BudgetOut:
    with uow:
        budget = BudgetService(uow).get(budget_id)
        require_readable(caller, budget.project_id, what="budget", owner_agent_id=budget.agent_id)
        return BudgetOut(**budget_view(budget))


@router.patch("/api/budgets/{budget_id}", response_model=BudgetOut)
def change_budget(budget_id: BudgetId, body: BudgetChange, uow: Uow, _admin: Admin) -> BudgetOut:
    with uow:
        budget = BudgetService(uow).update(budget_id, limit_amount=body.limit, alert_threshold=body.alert_threshold)
        return BudgetOut(**budget_view(budget))


@router.delete("/api/budgets/{budget_id}", status_code=204)
def delete_budget(budget_id: BudgetId, uow: Uow, _admin: Admin) -> None:
    BudgetService(uow).delete(budget_id)
