"""``phaseloom project …``."""

from __future__ import annotations

import typer

from phaseloom.cli import reads
from phaseloom.cli.context import console, state
from phaseloom.cli.output import api_shape, json_option, print_json, print_table

app = typer.Typer(help="Create and list projects.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., metavar="NAME"),
    workflow: str = typer.Option("software_development", "--workflow", "-w", help="Workflow name or id."),
    repo: str = typer.Option("", "--repo", help="Path of the project's git repository."),
    description: str = typer.Option("", "--description", "-d"),
    as_json: bool = json_option(),
) -> None:
    """Create a project that uses a workflow."""
    from phaseloom.services.projects import ProjectService

    project = ProjectService(state.uow()).create_project(name, workflow, description=description, repo_path=repo)
    if as_json:
        print_json(api_shape("projects", "ProjectOut", project))
        return
    console.print(f"project {project.id} [bold]{project.name}[/] created")


@app.command("list")
def list_projects(as_json: bool = json_option()) -> None:
    """List projects with their workflow and number of tickets."""
    projects = reads.projects()
    if as_json:
        print_json([api_shape("projects", "ProjectOut", p) | {"workflow_name": p["workflow_name"]} for p in projects])
        return
    print_table(("id", "name", "workflow", "tickets", "repository"),
                ((p["id"], p["name"], p["workflow_name"] or p["workflow_id"], p["tickets"], p["repo_path"])
                 for p in projects))
