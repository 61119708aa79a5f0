"""``phaseloom guardian``: score running agents' alignment and steer the ones that drift."""

from __future__ import annotations

import time
from typing import Optional

import typer

from phaseloom.cli.context import console, state


def guardian(
    once: bool = typer.Option(False, "--once", help="Run one round now and exit."),
    ticket: Optional[int] = typer.Option(None, "--ticket", help="Only show this ticket's stored assessments."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Assess every running agent (each guardian_interval_seconds until Ctrl-C), or show a ticket's history."""
    from phaseloom.services.guardian import GuardianRecords, GuardianService

    if ticket is not None:
        _show(GuardianRecords(state.uow(readonly=True)).assessments(ticket_id=ticket), as_json)
        return
    every = state.settings.guardian_interval_seconds or 60.0
    while True:
        _show(GuardianService(state.uow(), settings=state.settings).assess_running(), as_json)
        if once:
            return
        time.sleep(every)


def _show(assessments, as_json: bool) -> None:
    rows = [{"id": a.id, "task_id": a.task_id, "ticket_id": a.ticket_id, "agent_id": a.agent_id,
             "phase_id": a.phase_id, "score": a.score, "judge": a.judge, "intervention": a.intervention,
             "reasons": list(a.reasons), "at": a.created_at.isoformat() if a.created_at else None}
            for a in assessments]
    if as_json:
        console.print_json(data=rows)
        return
    if not rows:
        console.print("no running agent old enough to assess")
        return
    from rich.table import Table

    table = Table("task", "agent", "phase", "score", "judge", "intervention", "reasons")
    for r in rows:
        table.add_row(str(r["task_id"]), r["agent_id"], r["phase_id"], f"{r['score']:.2f}", r["judge"],
                      r["intervention"], "\n".join(r["reasons"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("guardian")(guardian)
