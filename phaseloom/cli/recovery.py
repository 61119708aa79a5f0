"""``phaseloom task failed|retry|timeouts``, ``phaseloom diagnose`` and ``phaseloom result …``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from phaseloom.cli.context import console, state

result_app = typer.Typer(help="Submit and inspect workflow results (workflows with has_result).",
                         no_args_is_help=True)


def _project_id(project: Optional[str]) -> Optional[int]:
    if project is None:
        return None
    from phaseloom.services.projects import ProjectService

    return ProjectService(state.uow(readonly=True)).get(project).id


def failed(
    project: Optional[str] = typer.Option(None, "--project"),
    ticket: Optional[int] = typer.Option(None, "--ticket"),
) -> None:
    """List tasks that failed for good (the dead letters), with why."""
    from phaseloom.queue import RetryService

    letters = RetryService(state.uow(readonly=True)).failed_tasks(project_id=_project_id(project), ticket_id=ticket)
    from rich.table import Table

    table = Table("id", "ticket", "phase", "title", "class", "retries", "reason")
    for d in letters:
        table.add_row(str(d.task_id), str(d.ticket_id), d.phase_id, d.title, d.error_class or "",
                      f"{d.retry_count}/{d.max_retries}", d.error or "")
    console.print(table if letters else "no failed tasks")


def retry(task_id: int) -> None:
    """Send a failed or cancelled task back to the queue with a fresh retry budget."""
    from phaseloom.queue import RetryService

    task = RetryService(state.uow()).retry_task(task_id, initiated_by="cli")
    console.print(f"task {task.id} [bold]{task.title}[/] is pending again in {task.phase_id}", highlight=False)


def timeouts() -> None:
    """Fail running tasks that are past their timeout (they are retried like any timeout)."""
    from phaseloom.queue import RetryService

    ids = RetryService(state.uow()).fail_timed_out_tasks()
    console.print(f"timed out: {', '.join(map(str, ids))}" if ids else "no task is past its timeout")


def diagnose(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be diagnosed; write nothing."),
    project: Optional[str] = typer.Option(None, "--project"),
    idle_seconds: float = typer.Option(1800.0, "--idle-seconds", help="No active task for this long is stuck."),
    cooldown_seconds: float = typer.Option(3600.0, "--cooldown-seconds", help="Minimum time between diagnoses."),
    max_diagnoses: int = typer.Option(3, "--max-diagnoses", help="Diagnoses per ticket, at most."),
) -> None:
    """Find stuck tickets, write a diagnosis for each and queue recovery work."""
    from phaseloom.services.diagnostics import DiagnosticsService

    service = DiagnosticsService(state.uow(readonly=dry_run), idle_seconds=idle_seconds,
                                 cooldown_seconds=cooldown_seconds, max_diagnoses_per_ticket=max_diagnoses)
    outcomes = service.diagnose(project_id=_project_id(project), dry_run=dry_run)
    if not outcomes:
        console.print("no stuck tickets")
        return
    from rich.table import Table

    table = Table("ticket", "trigger", "phase", "action", "recovery tasks")
    for o in outcomes:
        action = "diagnosed" if o.diagnosed else (f"skipped: {o.reason}" if o.reason else "would diagnose")
        table.add_row(str(o.ticket_id), o.trigger, o.phase_id, action, ", ".join(map(str, o.recovery_task_ids)))
    console.print(table)


@result_app.command("submit")
def submit(
    markdown: Path = typer.Argument(..., help="The Markdown file holding the result."),
    ticket: Optional[int] = typer.Option(None, "--ticket"),
    project: Optional[str] = typer.Option(None, "--project"),
    evidence: list[str] = typer.Option([], "--evidence", "-e", help="Evidence for the result (repeatable)."),
) -> None:
    """Submit a result; a validation task is queued to check it against the workflow's criteria."""
    from phaseloom.queue import ResultService

    row = ResultService(state.uow()).submit_result(markdown, ticket_id=ticket, project=project,
                                                   evidence=list(evidence), submitted_by="cli")
    console.print(f"result {row.id} submitted; validation task {row.validation_task_id} queued", highlight=False)


@result_app.command("list")
def list_results(project: Optional[str] = typer.Option(None, "--project")) -> None:
    """List submitted results and what became of them."""
    from phaseloom.queue import ResultService

    from rich.table import Table

    table = Table("id", "project", "ticket", "path", "status", "reason")
    for r in ResultService(state.uow(readonly=True)).list(project_id=_project_id(project)):
        table.add_row(str(r.id), str(r.project_id), str(r.ticket_id or ""), r.markdown_path, r.status,
                      r.reason or r.feedback)
    console.print(table)


def register(app: typer.Typer) -> None:
    from phaseloom.cli import tasks

    tasks.app.command("failed")(failed)
    tasks.app.command("retry")(retry)
    tasks.app.command("timeouts")(timeouts)
    app.command("diagnose")(diagnose)
    app.add_typer(result_app, name="result")
