"""``phaseloom launch WORKFLOW --project P --param key=value …``: start a ticket from a launch template."""

from __future__ import annotations

import typer

from phaseloom.cli.context import console, state
from phaseloom.domain.errors import InvalidInput


def _params(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--param {pair!r}: expected key=value")
        if name.strip() in values:
            raise InvalidInput(f"--param {name.strip()!r} is given twice")
        values[name.strip()] = value
    return values


def launch(
    workflow: str = typer.Argument(..., help="The stored workflow to launch."),
    project: str = typer.Option(..., "--project", "-p", help="The project; created on the workflow if new."),
    param: list[str] = typer.Option([], "--param", help="A launch parameter, key=value (repeatable)."),
    priority: str = typer.Option("MEDIUM", "--priority", help="CRITICAL, HIGH, MEDIUM or LOW."),
    show_form: bool = typer.Option(False, "--form", help="List the template's parameters and launch nothing."),
) -> None:
    """Start a ticket from the workflow's launch template: its first task gets the rendered prompt."""
    from phaseloom.services.launches import LaunchService

    if show_form:
        _print_form(LaunchService(state.uow(readonly=True)).template(workflow))
        return
    outcome = LaunchService(state.uow()).launch(workflow, project, _params(param), priority=priority,
                                                initiated_by="cli")
    made = "created project" if outcome.project_created else "project"
    console.print(f"{made} {project}: ticket {outcome.ticket.id} [bold]{outcome.ticket.title}[/] in "
                  f"{outcome.ticket.phase_id}, first task {outcome.task_id}", highlight=False)


def _print_form(template) -> None:
    from rich.table import Table

    table = Table("parameter", "label", "type", "required", "default", "options", "description")
    for p in template.parameters:
        table.add_row(p.name, p.label, p.type, "yes" if p.required else "", "" if p.default is None else str(p.default),
                      ", ".join(p.options), p.description)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("launch")(launch)
