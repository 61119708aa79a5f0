"""``phaseloom board``: the kanban board in the terminal."""

from __future__ import annotations

from typing import Optional

import typer
from rich.columns import Columns
from rich.panel import Panel

from phaseloom.cli.context import console, state


def register(app: typer.Typer) -> None:
    @app.command("board")
    def board(
        project: str,
        priority: Optional[str] = typer.Option(None, "--priority"),
        move: Optional[int] = typer.Option(None, "--move", help="Ticket id to move (with --to)."),
        to: Optional[str] = typer.Option(None, "--to", help="Column to move the ticket to."),
        force: bool = typer.Option(False, "--force", help="Override the column's WIP limit."),
    ) -> None:
        """Show the board: columns with their WIP use and tickets; or move a card."""
        from phaseloom.services.board import BoardService

        service = BoardService(state.uow())
        if move is not None:
            if not to:
                raise typer.BadParameter("--move needs --to COLUMN")
            t = service.move_ticket(move, to, force=force, initiated_by="cli")
            console.print(f"ticket {t.id} moved to {t.column} ({t.phase_id})")
        panels = []
        for column in service.board(project, priority=priority):
            limit = column.wip_limit
            use = f"{column.wip_use}/{limit}" if limit else str(column.wip_use)
            colour = "red" if limit and column.wip_use >= limit else ("yellow" if limit and column.wip_use >= 0.8 * limit else "green")
            body = "\n".join(f"#{t.id} {t.title} [dim]{t.priority}[/]" for t in column.tickets) or "[dim]empty[/]"
            panels.append(Panel(body, title=f"{column.name} [{colour}]{use}[/]", width=28))
        console.print(Columns(panels))
