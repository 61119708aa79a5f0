"""``phaseloom project …``."""

from __future__ import annotations

import typer
from rich.table import Table

from phaseloom.cli.context import console, state

app = typer.Typer(help="Create and list projects.", no_args_is_help=True)


@app.command("create")
def create(
    name: str,
    workflow: str = typer.Option("software_development", "--workflow", "-w", help="Workflow name or id."),
    repo: str = typer.Option("", "--repo", help="Path of the project's git repository."),
    description: str = typer.Option("", "--description", "-d"),
) -> None:
    """Create a project that uses a workflow."""
    from phaseloom.services.projects import ProjectService

    project = ProjectService(state.uow()).create_project(name, workflow, description=description, repo_path=repo)
    console.print(f"project {project.id} [bold]{project.name}[/] created")


@app.command("list")
def list_projects() -> None:
    """List projects."""
    from phaseloom.services.projects import ProjectService

    table = Table("id", "name", "workflow", "tickets", "repository")
    for p in ProjectService(state.uow(readonly=True)).list():
        table.add_row(str(p["id"]), p["name"], str(p["workflow_id"]), str(p["tickets"]), p["repo_path"])
    console.print(table)
