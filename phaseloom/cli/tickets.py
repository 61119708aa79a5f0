"""``phaseloom ticket …``: create tickets and move them through the workflow."""

from __future__ import annotations

from typing import Optional

import typer

from phaseloom.cli import reads
from phaseloom.cli.context import state
from phaseloom.cli.output import api_shape, json_option, print_json, print_line, print_table
from phaseloom.cli.phase_args import phase_of_project, phase_of_ticket

app = typer.Typer(help="Create tickets and move them through phases.", no_args_is_help=True)
FORCE_HELP = "Override a WIP limit (recorded in history)."


def _writer():
    """The ticket use-cases for a write, on SQLite without SQLAlchemy when they can (``state.ticket_uow``)."""
    from phaseloom.services.tickets import TicketService

    return TicketService(state.ticket_uow())


def _print_ticket(t, as_json: bool = False) -> None:
    if as_json:
        print_json(api_shape("tickets", "TicketOut", t))
        return
    print_line(f"ticket {t.id} ", (t.title, "bold"), f" — {t.phase_id} ({t.status}), priority {t.priority}"
               + (f", blocked: {t.blocked_reason}" if t.blocked_reason else ""))


@app.command("create")
def create(
    project: str = typer.Argument(..., metavar="PROJECT", help="Project name or id."),
    title: str = typer.Argument(..., metavar="TITLE"),
    description: str = typer.Option("", "--description", "-d"),
    priority: str = typer.Option("MEDIUM", "--priority", "-p", help="CRITICAL, HIGH, MEDIUM or LOW."),
    blocked_by: list[int] = typer.Option([], "--blocked-by", help="Ticket ids this one waits for."),
    force: bool = typer.Option(False, "--force", help="Override the first column's WIP limit (recorded in history)."),
    as_json: bool = json_option(),
) -> None:
    """Create a ticket in a project; it starts in the workflow's first phase."""
    _print_ticket(_writer().create_ticket(project, title, description=description, priority=priority,
                                           blocked_by=blocked_by, force=force), as_json)


@app.command("list")
def list_tickets(
    project: Optional[str] = typer.Option(None, "--project", metavar="PROJECT"),
    phase: Optional[str] = typer.Option(None, "--phase", metavar="PHASE", help="Phase id or name, any case."),
    priority: Optional[str] = typer.Option(None, "--priority"),
    as_json: bool = json_option(),
) -> None:
    """List tickets, optionally filtered."""
    tickets = reads.tickets(project, phase_id=phase_of_project(project, phase), priority=priority)
    if as_json:
        print_json([api_shape("tickets", "TicketOut", t) for t in tickets])
        return
    print_table(("id", "title", "priority", "phase", "status"),
                ((t.id, t.title, t.priority, t.phase_id, t.status) for t in tickets))


@app.command("show")
def show(ticket_id: int = typer.Argument(..., metavar="TICKET"), as_json: bool = json_option()) -> None:
    """Show one ticket."""
    t = reads.ticket(ticket_id)
    _print_ticket(t, as_json)
    if t.description and not as_json:
        print_line(t.description)


@app.command("move")
def move(
    ticket_id: int = typer.Argument(..., metavar="TICKET"),
    to_phase: str = typer.Argument(..., metavar="PHASE", help="Phase id or name, any case (design, PHASE_DESIGN)."),
    reason: str = typer.Option("", "--reason", "-r"),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = json_option(),
) -> None:
    """Move a ticket to another phase, as the workflow allows."""
    _print_ticket(_writer().transition(ticket_id, phase_of_ticket(ticket_id, to_phase), reason=reason,
                                        force=force, initiated_by="cli"), as_json)


@app.command("block")
def block(ticket_id: int = typer.Argument(..., metavar="TICKET"),
          reason: str = typer.Option(..., "--reason", "-r"), as_json: bool = json_option()) -> None:
    """Block a ticket; it remembers the phase to return to."""
    _print_ticket(_writer().block(ticket_id, reason, initiated_by="cli"), as_json)


@app.command("unblock")
def unblock(ticket_id: int = typer.Argument(..., metavar="TICKET"),
            to_phase: Optional[str] = typer.Option(None, "--to", metavar="PHASE"),
            as_json: bool = json_option()) -> None:
    """Unblock a ticket: back to the phase it left, or ``--to`` another active phase."""
    _print_ticket(_writer().unblock(ticket_id, to_phase_id=phase_of_ticket(ticket_id, to_phase),
                                     initiated_by="cli"), as_json)


@app.command("history")
def history(ticket_id: int = typer.Argument(..., metavar="TICKET"), as_json: bool = json_option()) -> None:
    """Show a ticket's phase history."""
    rows = reads.history(ticket_id)
    if as_json:
        print_json([api_shape("tickets", "HistoryOut", h) for h in rows])
        return
    print_table(("when", "from", "to", "status", "by", "reason", "forced"),
                ((h.created_at.strftime("%Y-%m-%d %H:%M:%S"), h.from_phase_id or "-", h.to_phase_id,
                  f"{h.from_status or '-'} → {h.to_status}", h.initiated_by, h.reason, "yes" if h.forced else "")
                 for h in rows))
