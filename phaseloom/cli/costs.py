"""``phaseloom costs``, ``phaseloom budget …`` and ``phaseloom stats``."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Optional

import typer

from phaseloom.cli.context import console, state
from phaseloom.domain.errors import InvalidInput

if TYPE_CHECKING:
    from rich.table import Table

budget_app = typer.Typer(help="Spending limits per project, ticket, phase or agent; reaching one stops new claims.",
                         no_args_is_help=True)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: Optional[str]) -> Optional[datetime]:
    """``30m``, ``24h``, ``7d``, ``2w`` (that long ago) or an ISO date/time (UTC unless it says otherwise)."""
    if value is None:
        return None
    relative = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", value)
    if relative:
        return datetime.now(timezone.utc) - timedelta(**{_UNITS[relative[2]]: float(relative[1])})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"--since {value!r} is neither a duration like 24h or 7d nor an ISO date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.4f} {currency}"


def costs(
    by: str = typer.Option("phase", "--by", help="Group by phase, ticket, project, agent or model."),
    since: Optional[str] = typer.Option(None, "--since", help="24h, 7d, … or an ISO date (default: all time)."),
    project: Optional[str] = typer.Option(None, "--project", help="Only this project (id or name)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """What model calls cost, grouped by phase, ticket, project, agent or model."""
    from phaseloom.services.costs import CostService

    groups = CostService(state.uow(readonly=True), state.settings).totals(by, since=parse_since(since),
                                                                           project=project)
    if as_json:
        console.print_json(data=[g.__dict__ for g in groups])
        return
    from rich.table import Table

    table = Table(by, "amount", "input tokens", "output tokens", "records")
    for g in groups:
        table.add_row(g.key or "-", _money(g.amount, g.currency), f"{g.input_tokens:,}", f"{g.output_tokens:,}",
                      str(g.records))
    total = sum(g.amount for g in groups)
    console.print(table if groups else "no costs recorded")
    if groups:
        console.print(f"total: {_money(total, groups[0].currency)}", highlight=False)


def _budget_row(table: Table, b: dict) -> None:
    target = {"project": b["project_id"], "ticket": b["ticket_id"], "agent": b["agent_id"]}.get(
        b["scope"], f"{b['phase_id']}" + (f" (project {b['project_id']})" if b["project_id"] else ""))
    state_text = "EXHAUSTED" if b["exhausted"] else ("warning" if b["warned"] else "ok")
    table.add_row(str(b["id"]), b["scope"], str(target), f"{b['spent']:.4f} / {b['limit']:.4f} {b['currency']}",
                  f"{b['alert_threshold']:.0%}", state_text)


@budget_app.command("list")
def budget_list() -> None:
    """List budgets with what each has spent."""
    from phaseloom.services.budgets import BudgetService, budget_view

    uow = state.uow(readonly=True)
    with uow:
        views = [budget_view(b) for b in BudgetService(uow).list()]
    from rich.table import Table

    table = Table("id", "scope", "target", "spent / limit", "alert at", "state")
    for view in views:
        _budget_row(table, view)
    console.print(table if views else "no budgets")


@budget_app.command("add")
def budget_add(
    scope: str = typer.Argument(..., help="project, ticket, phase or agent"),
    limit: float = typer.Argument(..., help="the limit, in the configured currency"),
    project: Optional[str] = typer.Option(None, "--project", help="project id or name (project/phase scopes)"),
    ticket: Optional[int] = typer.Option(None, "--ticket"),
    phase: Optional[str] = typer.Option(None, "--phase"),
    agent: Optional[str] = typer.Option(None, "--agent"),
    alert: float = typer.Option(0.8, "--alert", help="warn at this fraction of the limit"),
) -> None:
    """Add a budget; what its scope already spent counts at once."""
    from phaseloom.services.budgets import BudgetService

    budget = BudgetService(state.uow(), state.settings.currency).create(
        scope, limit, project=project, ticket_id=ticket, phase_id=phase, agent_id=agent, alert_threshold=alert)
    console.print(f"budget {budget.id} ({scope}) limit {_money(budget.limit_amount, budget.currency)}, "
                  f"spent {_money(budget.spent, budget.currency)}" + (" — EXHAUSTED" if budget.exhausted else ""),
                  highlight=False)


@budget_app.command("set")
def budget_set(
    budget_id: int,
    limit: Optional[float] = typer.Option(None, "--limit"),
    alert: Optional[float] = typer.Option(None, "--alert"),
) -> None:
    """Change a budget's limit or alert threshold; raising the limit resumes claims."""
    from phaseloom.services.budgets import BudgetService

    budget = BudgetService(state.uow()).update(budget_id, limit_amount=limit, alert_threshold=alert)
    console.print(f"budget {budget.id}: spent {_money(budget.spent, budget.currency)} of "
                  f"{_money(budget.limit_amount, budget.currency)}" + (" — EXHAUSTED" if budget.exhausted else ""),
                  highlight=False)


@budget_app.command("delete")
def budget_delete(budget_id: int) -> None:
    """Remove a budget (its stop, if any, is lifted)."""
    from phaseloom.services.budgets import BudgetService

    BudgetService(state.uow()).delete(budget_id)
    console.print(f"budget {budget_id} deleted")


def stats(
    project: Optional[str] = typer.Option(None, "--project", help="Only this project (id or name)."),
    since: Optional[str] = typer.Option(None, "--since", help="24h, 7d, … or an ISO date (default: 24h)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The phase table: throughput, median and p90 duration, failure rate, queue depth, WIP use; the bottleneck."""
    from phaseloom.services.stats import StatsService

    report = StatsService(state.uow()).phase_stats(project=project, since=parse_since(since),
                                                   detect_anomalies=True)
    if as_json:
        console.print_json(data=report.as_dict(), default=str)
        return
    from rich.table import Table

    table = Table("phase", "done", "per hour", "median s", "p90 s", "failure", "queued", "running", "WIP")
    for p in report.phases:
        wip = f"{p.tickets_in_column}/{p.wip_limit}" if p.wip_limit else "-"
        table.add_row(p.phase_id + (" ◀" if p.phase_id == report.bottleneck else ""), str(p.completed),
                      f"{p.throughput_per_hour:.2f}", _num(p.median_seconds), _num(p.p90_seconds),
                      "-" if p.failure_rate is None else f"{p.failure_rate:.0%}", str(p.queue_depth),
                      str(p.in_progress), wip)
    console.print(table)
    console.print(f"bottleneck: {report.bottleneck or 'none'} ({report.bottleneck_reason})", highlight=False)
    for a in report.anomalies:
        console.print(f"anomaly: task {a['task_id']} {a['metric']} {a['value']:g} vs baseline "
                      f"{a['baseline_mean']:g}±{a['baseline_stddev']:g} ({a['agent_type']} in {a['phase_id']})",
                      highlight=False)


def _num(value: Optional[float]) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def register(app: typer.Typer) -> None:
    app.command("costs")(costs)
    app.command("stats")(stats)
    app.add_typer(budget_app, name="budget")
