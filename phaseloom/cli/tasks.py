"""``phaseloom task …``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from phaseloom.cli import reads
from phaseloom.cli.context import console, state
from phaseloom.cli.output import api_shape, json_option, print_json, print_line, print_table
from phaseloom.cli.phase_args import phase_of_project, phase_of_ticket

app = typer.Typer(help="Create and inspect tasks.", no_args_is_help=True)


def _service(readonly: bool = False):
    from phaseloom.queue import QueueService

    return QueueService(state.uow(readonly=readonly), state.settings)


@app.command("create")
def create(
    ticket_id: int = typer.Argument(..., metavar="TICKET"),
    phase: str = typer.Argument(..., metavar="PHASE", help="Phase id or name, any case."),
    title: str = typer.Argument(..., metavar="TITLE"),
    description: str = typer.Option("", "--description", "-d"),
    priority: Optional[str] = typer.Option(None, "--priority", "-p"),
    capability: list[str] = typer.Option([], "--capability", "-c", help="Required capability (repeatable)."),
    depends_on: list[int] = typer.Option([], "--depends-on", help="Task id that must complete first."),
    path: list[str] = typer.Option([], "--path", help="Glob of files the task touches (repeatable; default: "
                                   "its phase's): it never runs beside a task of the project touching the same."),
    as_json: bool = json_option(),
) -> None:
    """Queue a task in a phase of a ticket."""
    service = _service()
    task = service.create_task(ticket_id, phase_of_ticket(ticket_id, phase), title, description=description,
                               priority=priority, required_capabilities=capability, depends_on=depends_on,
                               created_by="cli", paths=path or None)
    if as_json:
        print_json(_shapes([task], service)[0])
        return
    print_line(f"task {task.id} ", (task.title, "bold"), f" queued in {task.phase_id} ({task.priority})")


@app.command("list")
def list_tasks(
    ticket: Optional[int] = typer.Option(None, "--ticket", metavar="TICKET"),
    phase: Optional[str] = typer.Option(None, "--phase", metavar="PHASE", help="Phase id or name, any case."),
    status: Optional[str] = typer.Option(None, "--status"),
    as_json: bool = json_option(),
) -> None:
    """List tasks, optionally filtered."""
    phase_id = phase_of_ticket(ticket, phase) if ticket is not None else phase_of_project(None, phase)
    tasks = reads.tasks(ticket_id=ticket, phase_id=phase_id, status=status)
    if as_json:
        print_json(_shapes(tasks))
        return
    columns = ("id", "ticket", "phase", "title", "priority", "status", "agent", "retries")
    rows = [(t.id, t.ticket_id, t.phase_id, t.title, t.priority, t.status, t.assigned_agent_id or "",
             f"{t.retry_count}/{t.max_retries}") for t in tasks]
    waits = {i: f["waits_for"] for i, f in _path_facts(tasks).items() if f["waits_for"]}
    if waits:  # the column only when a task waits on another's paths
        columns, rows = (*columns, "waits"), [(*row, waits.get(t.id, "")) for row, t in zip(rows, tasks)]
    print_table(columns, rows)


def _path_facts(tasks: list, service=None) -> dict[int, dict]:
    """Declared paths and what each task waits for (:meth:`QueueService.path_facts`). The service is asked
    only when a task declared paths: a quick read of the SQLite file cannot tell what they wait for."""
    return (service or _service(readonly=True)).path_facts(tasks) if any(t.path_count for t in tasks) else {}


def _shapes(tasks: list, service=None) -> list[dict]:
    """The tasks as the API returns them, with their declared paths and what they wait for."""
    facts = _path_facts(tasks, service)
    return [{**api_shape("tasks", "TaskOut", t), **facts.get(t.id, {})} for t in tasks]


@app.command("snapshots")
def list_snapshots(task_id: int = typer.Argument(..., metavar="TASK"), as_json: bool = json_option()) -> None:
    """List the snapshots of the task's worktree (refs/phaseloom/snapshots/task-ID/N), oldest first."""
    from phaseloom.services.snapshots import SnapshotService

    found = SnapshotService(state.uow(readonly=True)).list(task_id)
    if as_json:
        print_json([api_shape("tasks", "SnapshotOut", s) for s in found])
        return
    print_table(("n", "time", "reason", "commit", "files"),
                ((s.n, s.created_at.isoformat(timespec="seconds"), s.reason, s.commit[:12], s.files) for s in found))


@app.command("restore")
def restore(
    task_id: int = typer.Argument(..., metavar="TASK"),
    n: Optional[int] = typer.Argument(None, metavar="[N]", help="The snapshot's number; the latest without it."),
    to: Optional[Path] = typer.Option(None, "--to", metavar="PATH",
                                      help="A clean worktree of the repository, or a new or empty folder."),
    as_json: bool = json_option(),
) -> None:
    """Bring a snapshot back: into the task's worktree if it is there and clean, else into --to PATH."""
    from phaseloom.services.snapshots import SnapshotService

    done = SnapshotService(state.uow()).restore(task_id, n, to=to)
    if as_json:
        print_json({"snapshot": api_shape("tasks", "SnapshotOut", done.snapshot), "path": str(done.path),
                    "into_worktree": done.into_worktree})
        return
    what = "its files and index, as uncommitted changes" if done.into_worktree else "its files"
    console.print(f"snapshot {done.snapshot.n} of task {task_id} restored into {done.path} ({what})", highlight=False)


@app.command("show")
def show(task_id: int = typer.Argument(..., metavar="TASK"), as_json: bool = json_option()) -> None:
    """Show one task."""
    t = reads.task(task_id)
    if as_json:
        print_json(_shapes([t])[0])
        return
    facts = _path_facts([t]).get(t.id, {})  # as the API's shape has them, without building it (pydantic)
    console.print(f"task {t.id} [bold]{t.title}[/] — {t.phase_id}, {t.status}, priority {t.priority}",
                  highlight=False)
    for label, value in (("ticket", t.ticket_id), ("type", t.task_type), ("agent", t.assigned_agent_id),
                         ("retries", f"{t.retry_count}/{t.max_retries}"), ("capabilities", t.required_capabilities),
                         ("paths", ", ".join(facts.get("paths", []))), ("waits", facts.get("waits_for")), ("error", t.error),
                         ("result", t.result), ("description", t.description)):
        if value not in (None, "", [], {}):
            console.print(f"  {label}: {value}", highlight=False)


@app.command("answer")
def answer(task_id: int = typer.Argument(..., metavar="TASK"),
           text: str = typer.Argument(..., metavar="TEXT", help="The answer to the question the task's agent asked."),
           as_json: bool = json_option()) -> None:
    """Answer the question a task's agent asked (ask_human): the task is queued again and resumes with it."""
    from phaseloom.services.human_input import HumanInputService

    request = HumanInputService(state.uow(), state.settings).answer(task_id, text, answered_by="cli")
    if as_json:
        print_json({"task_id": task_id, "request_id": request.id, "status": "pending"})
        return
    console.print(f"task {task_id} answered; it is queued again and its agent resumes with your answer",
                  highlight=False)
