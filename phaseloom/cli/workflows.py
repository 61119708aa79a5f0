"""``phaseloom workflow …`` and ``phaseloom phases list``."""

from __future__ import annotations

from pathlib import Path

import typer

from phaseloom.cli import reads
from phaseloom.cli.context import console, state
from phaseloom.cli.output import api_shape, json_option, print_json, print_table

workflow_app = typer.Typer(help="Load, validate and inspect workflows.", no_args_is_help=True)
phases_app = typer.Typer(help="Inspect phases.", no_args_is_help=True)


@workflow_app.command("load")
def load(path: Path, overwrite: bool = typer.Option(False, "--overwrite", help="Replace a workflow of the same name.")) -> None:
    """Load a workflow from a YAML file, a Hephaestus phase folder or a Python file."""
    from phaseloom.loaders.sources import load_workflow_source
    from phaseloom.services.workflows import WorkflowService

    document = load_workflow_source(path)
    outcome = WorkflowService(state.uow()).save_document(document, source=str(path), overwrite=overwrite)
    console.print(f"workflow [bold]{outcome.name}[/] v{outcome.version}: {outcome.action} "
                  f"({len(document.phases)} phases)")


@workflow_app.command("validate")
def validate(path: Path) -> None:
    """Check a workflow without writing anything; problems name file, line and field."""
    from phaseloom.loaders.sources import kept_unused_keys, load_workflow_source

    document = load_workflow_source(path)
    console.print(f"{path}: valid workflow [bold]{document.name}[/] "
                  f"({document.mode.value}, {len(document.phases)} phases, {len(document.board_columns)} columns)")
    kept = kept_unused_keys(document)
    if kept:
        console.print(f"kept, not used by phaseloom ({len(kept)}):", markup=False)
        for where, key in kept:
            console.print(f"  {where}: {key}", markup=False, highlight=False)
    _print_missing_tools(document)


def _print_missing_tools(document) -> None:
    """Tools the prompts ask agents to call that phaseloom's MCP server does not offer."""
    from phaseloom.domain.prompt_tools import missing_tools
    from phaseloom.mcp.tools import offered_tool_names

    missing = missing_tools(document.to_domain(), offered_tool_names())
    if missing:
        console.print(f"tools the prompts name that phaseloom's MCP server does not offer ({len(missing)}):",
                      markup=False)
        for phase_id, tool in missing:
            console.print(f"  {phase_id}: {tool}", markup=False, highlight=False)


@workflow_app.command("list")
def list_workflows(as_json: bool = json_option()) -> None:
    """List stored workflows."""
    summaries = reads.workflow_summaries()
    if as_json:
        print_json([api_shape("workflows", "WorkflowSummaryOut", w) for w in summaries])
        return
    print_table(("id", "name", "version", "mode", "phases", "projects"),
                [(w["id"], w["name"], w["version"], w["mode"], w["phases"], w["projects"]) for w in summaries])


@workflow_app.command("show")
def show(name: str) -> None:
    """Show a workflow's phases, transitions and board columns."""
    workflow = reads.workflow(name)
    console.print(f"[bold]{workflow.name}[/] v{workflow.version} ({workflow.mode.value}) {workflow.description}")
    _print_phases(workflow)
    from rich.table import Table

    table = Table("column", "phases", "WIP limit", "auto →", title="Board columns")
    for c in workflow.board_columns:
        table.add_row(c.id, ", ".join(c.phase_mapping), str(c.wip_limit or "-"), c.auto_transition_to or "")
    console.print(table)


@phases_app.command("list")
def list_phases(workflow: str = typer.Option("software_development", "--workflow", "-w")) -> None:
    """List a workflow's phases in sequence order."""
    _print_phases(reads.workflow(workflow))


def _print_phases(workflow) -> None:
    from rich.table import Table

    table = Table("#", "phase", "name", "terminal", "allowed transitions", "done definitions", title="Phases")
    for p in workflow.ordered_phases:
        targets = "any (free-form)" if workflow.mode.value == "free_form" else ", ".join(p.allowed_transitions)
        table.add_row(str(p.sequence_order), p.id, p.name, "yes" if p.is_terminal else "",
                      targets, str(len(p.done_definitions)))
    console.print(table)
