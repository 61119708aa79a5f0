"""``phaseloom task …``."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from phaseloom.cli.context import console, state

app = typer.Typer(help="Create and inspect tasks.", no_args_is_help=True)


def _service(readonly: bool = False):
    from phaseloom.services.queue import QueueService

    return QueueService(state.uow(readonly=readonly), state.settings)


@app.command("create")
def create(
    ticket_id: int,
    phase: str,
    title: str,
    description: str = typer.Option("", "--description", "-d"),
    priority: Optional[str] = typer.Option(None, "--priority", "-p"),
    capability: list[str] = typer.Option([], "--capability", "-c", help="Required capability (repeatable)."),
    depends_on: list[int] = typer.Option([], "--depends-on", help="Task id that must complete first."),
) -> None:
    """Queue a task in a phase of a ticket."""
    task = _service().create_task(ticket_id, phase, title, description=description, priority=priority,
                                  required_capabilities=capability, depends_on=depends_on, created_by="cli")
    console.print(f"task {task.id} [bold]{task.title}[/] queued in {task.phase_id} ({task.priority})",
                  highlight=False)


@app.command("list")
def list_tasks(
    ticket: Optional[int] = typer.Option(None, "--ticket"),
    phase: Optional[str] = typer.Option(None, "--phase"),
    status: Optional[str] = typer.Option(None, "--status"),
) -> None:
    """List tasks, optionally filtered."""
    table = Table("id", "ticket", "phase", "title", "priority", "status", "agent", "retries")
    for t in _service(readonly=True).list(ticket_id=ticket, phase_id=phase, status=status):
        table.add_row(str(t.id), str(t.ticket_id), t.phase_id, t.title, t.priority, t.status,
                      t.assigned_agent_id or "", f"{t.retry_count}/{t.max_retries}")
    console.print(table)


@app.command("show")
def show(task_id: int) -> None:
    """Show one task."""
    t = _service(readonly=True).get(task_id)
    console.print(f"task {t.id} [bold]{t.title}[/] — {t.phase_id}, {t.status}, priority {t.priority}",
                  highlight=False)
    for label, value in (("ticket", t.ticket_id), ("type", t.task_type), ("agent", t.assigned_agent_id),
                         ("retries", f"{t.retry_count}/{t.max_retries}"), ("capabilities", t.required_capabilities),
                         ("error", t.error), ("result", t.result), ("description", t.description)):
        if value not in (None, "", [], {}):
            console.print(f"  {label}: {value}", highlight=False)
