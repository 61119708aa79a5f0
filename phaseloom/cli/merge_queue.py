"""``phaseloom merge-queue``: the tickets waiting to land on their repository's target branch."""

from __future__ import annotations

import json
from typing import Optional

import typer

from phaseloom.cli.context import console, state


def merge_queue(
    repo: Optional[str] = typer.Option(None, "--repo", help="Only this repository's queue (its path)."),
    finished: bool = typer.Option(False, "--finished", help="Also the entries that landed or were rejected."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The merge queue, in the order it tests (per repository); `phaseloom run` processes it."""
    from phaseloom.services.merge_queue import MergeQueueService

    entries = MergeQueueService(state.uow(readonly=True), root=state.settings.workspaces_home).entries(
        repo, finished=finished)
    rows = [{"id": e.id, "ticket_id": e.ticket_id, "ticket": e.ticket_title, "repo": e.repo, "branch": e.branch,
             "into": e.into, "strategy": e.strategy, "status": e.status, "position": e.position,
             "attempts": e.attempts, "base_commit": e.base_commit, "tested_commit": e.tested_commit,
             "landed_commit": e.landed_commit, "conflicts": e.conflicts, "failed_check": e.failed_check,
             "reason": e.reason, "task_id": e.task_id, "queued_at": e.created_at.isoformat()} for e in entries]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print("the merge queue is empty" + (f" for {repo}" if repo else ""))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("#", "ticket", "branch", "into", "status", "tries", "repository", "why")
    for r in rows:
        table.add_row("" if r["position"] is None else str(r["position"]), f"{r['ticket_id']} {escape(r['ticket'])}",
                      r["branch"], r["into"], r["status"], str(r["attempts"]), escape(r["repo"]), escape(r["reason"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("merge-queue")(merge_queue)
