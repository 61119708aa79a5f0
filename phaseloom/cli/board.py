"""``phaseloom board``: the kanban board in the terminal."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from phaseloom.cli import reads
from phaseloom.cli.context import console, state
from phaseloom.cli.output import api_shape, json_option, on_terminal, print_json


def wip_label(use: int, limit: int | None) -> tuple[str, str]:
    """(text, colour) of a column's WIP use: over a limit (after a forced move) says so."""
    if not limit:
        return str(use), "green"
    if use > limit:
        return f"{use}/{limit} over limit", "red"
    if use == limit:
        return f"{use}/{limit}", "red"
    return f"{use}/{limit}", "yellow" if use >= 0.8 * limit else "green"


def register(app: typer.Typer) -> None:
    @app.command("board")
    def board(
        project: str = typer.Argument(..., metavar="PROJECT", help="Project name or id."),
        priority: Optional[str] = typer.Option(None, "--priority"),
        move: Optional[int] = typer.Option(None, "--move", metavar="TICKET", help="Ticket id to move (with --to)."),
        to: Optional[str] = typer.Option(None, "--to", metavar="COLUMN", help="Column to move the ticket to."),
        force: bool = typer.Option(False, "--force", help="Override the column's WIP limit."),
        as_json: bool = json_option(),
    ) -> None:
        """Show the board: columns with their WIP use and tickets; or move a card."""
        if move is not None:
            if not to:
                raise typer.BadParameter("--move needs --to COLUMN")
            from phaseloom.services.board import BoardService

            t = BoardService(state.uow()).move_ticket(move, to, force=force, initiated_by="cli")
            if not as_json:
                console.print(f"ticket {t.id} moved to {t.column} ({t.phase_id})")
        project_id, columns = reads.board(project, priority=priority)
        if as_json:
            print_json(api_shape("board", "BoardOut", {"project_id": project_id, "columns": columns}))
            return
        _print_columns(columns)


def _print_columns(columns) -> None:
    """Panels side by side on a terminal; in a pipe, each column's title line then its cards, in full."""
    if not on_terminal():
        for column in columns:
            use, _ = wip_label(column.wip_use, column.wip_limit)
            lines = [f"{column.name} {use}"] + [f"  #{t.id} {t.title} {t.priority}" for t in column.tickets]
            sys.stdout.write("\n".join(lines) + "\n")
        return
    from rich.columns import Columns
    from rich.panel import Panel

    panels = []
    for column in columns:
        use, colour = wip_label(column.wip_use, column.wip_limit)
        body = "\n".join(f"#{t.id} {t.title} [dim]{t.priority}[/]" for t in column.tickets) or "[dim]empty[/]"
        panels.append(Panel(body, title=f"{column.name} [{colour}]{use}[/]", width=32))
    console.print(Columns(panels))
