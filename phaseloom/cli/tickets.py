"""``phaseloom ticket …``: create tickets and move them through the workflow."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from phaseloom.cli.context import console, state

app = typer.Typer(help="Create tickets and move them through phases.", no_args_is_help=True)


def _service(readonly: bool = False):
    from phaseloom.services.tickets import TicketService

    return TicketService(state.uow(readonly=readonly))


def _print_ticket(t) -> None:
    console.print(f"ticket {t.id} [bold]{t.title}[/] — {t.phase_id} ({t.status}), priority {t.priority}"
                  + (f", blocked: {t.blocked_reason}" if t.blocked_reason else ""), highlight=False)


@app.command("create")
def create(
    project: str,
    title: str,
    description: str = typer.Option("", "--description", "-d"),
    priority: str = typer.Option("MEDIUM", "--priority", "-p", help="CRITICAL, HIGH, MEDIUM or LOW."),
    blocked_by: list[int] = typer.Option([], "--blocked-by", help="Ticket ids this one waits for."),
) -> None:
    """Create a ticket in a project; it starts in the workflow's first phase."""
    _print_ticket(_service().create_ticket(project, title, description=description, priority=priority,
                                           blocked_by=blocked_by))


@app.command("list")
def list_tickets(
    project: Optional[str] = typer.Option(None, "--project"),
    phase: Optional[str] = typer.Option(None, "--phase"),
    priority: Optional[str] = typer.Option(None, "--priority"),
) -> None:
    """List tickets, optionally filtered."""
    table = Table("id", "title", "priority", "phase", "status")
    for t in _service(readonly=True).list(project, phase_id=phase, priority=priority):
        table.add_row(str(t.id), t.title, t.priority, t.phase_id, t.status)
    console.print(table)


@app.command("show")
def show(ticket_id: int) -> None:
    """Show one ticket."""
    t = _service(readonly=True).get(ticket_id)
    _print_ticket(t)
    if t.description:
        console.print(t.description, highlight=False)


@app.command("move")
def move(
    ticket_id: int,
    to_phase: str,
    reason: str = typer.Option("", "--reason", "-r"),
    force: bool = typer.Option(False, "--force", help="Override a WIP limit (recorded in history)."),
) -> None:
    """Move a ticket to another phase, as the workflow allows."""
    _print_ticket(_service().transition(ticket_id, to_phase, reason=reason, force=force, initiated_by="cli"))


@app.command("block")
def block(ticket_id: int, reason: str = typer.Option(..., "--reason", "-r")) -> None:
    """Block a ticket; it remembers the phase to return to."""
    _print_ticket(_service().block(ticket_id, reason, initiated_by="cli"))


@app.command("unblock")
def unblock(ticket_id: int, to_phase: Optional[str] = typer.Option(None, "--to")) -> None:
    """Unblock a ticket: back to the phase it left, or ``--to`` another active phase."""
    _print_ticket(_service().unblock(ticket_id, to_phase_id=to_phase, initiated_by="cli"))


@app.command("history")
def history(ticket_id: int) -> None:
    """Show a ticket's phase history."""
    table = Table("when", "from", "to", "status", "by", "reason", "forced")
    for h in _service(readonly=True).history(ticket_id):
        table.add_row(h.created_at.strftime("%Y-%m-%d %H:%M:%S"), h.from_phase_id or "-", h.to_phase_id,
                      f"{h.from_status or '-'} → {h.to_status}", h.initiated_by, h.reason, "yes" if h.forced else "")
    console.print(table)
