"""``phaseloom gate …``, ``phaseloom discovery …`` and ``phaseloom graph``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from phaseloom.cli.context import console, state
from phaseloom.cli.output import api_shape, json_option, print_json, print_table

gate_app = typer.Typer(help="Check phase gates, tick done definitions, approve criteria.", no_args_is_help=True)
discovery_app = typer.Typer(help="Record and list discoveries (work spawned in any phase).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(gate_app, name="gate")
    app.add_typer(discovery_app, name="discovery")
    app.command("graph")(graph)


def _print_gate(result) -> None:
    verdict = "[bold green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
    console.print(f"gate of {result.phase_id} for ticket {result.ticket_id}: {verdict}", highlight=False,
                  soft_wrap=True)
    for outcome in result.outcomes:
        mark = "[green]✓[/]" if outcome["passed"] else "[red]✗[/]"
        console.print(f"  {mark} {outcome['key']} ({outcome['type']}): {outcome['reason']}", highlight=False,
                      soft_wrap=True)


@gate_app.command("check")
def check(
    ticket_id: int,
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="The ticket's workspace folder."),
    phase: Optional[str] = typer.Option(None, "--phase", help="Another phase than the ticket's current one."),
) -> None:
    """Evaluate a ticket's phase gate and store the result; exit code 1 when it fails.

    A finished ticket (in a terminal phase such as DONE) has no gate left: that is said, exit 0."""
    from phaseloom.services.gates import GateService

    if phase is None:
        from phaseloom.services.tickets import TicketService

        ticket = TicketService(state.uow(readonly=True)).get(ticket_id)
        if ticket.is_done:
            console.print(f"ticket {ticket_id} is finished ({ticket.phase_id}): no gate left to check",
                          highlight=False, soft_wrap=True)
            return
    result = GateService(state.uow()).validate_gate(ticket_id, phase, workspace)
    _print_gate(result)
    if not result.passed:
        raise typer.Exit(1)


@gate_app.command("progress")
def progress(
    ticket_id: int,
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="The ticket's workspace folder."),
) -> None:
    """Move the ticket to its next phase if its gate passes (and queue that phase's tasks)."""
    from phaseloom.services.progress import ProgressService

    outcome = ProgressService(state.uow()).check_and_progress(ticket_id, workspace, initiated_by="cli")
    if outcome.moved:
        console.print(f"ticket {ticket_id} moved {outcome.from_phase} → {outcome.to_phase}; queued task(s) "
                      f"{', '.join(map(str, outcome.queued_task_ids)) or 'none'}", highlight=False,
                      soft_wrap=True)
        return
    console.print(f"ticket {ticket_id} stays in {outcome.from_phase}: {outcome.reason}", highlight=False,
                  soft_wrap=True)
    raise typer.Exit(1)


@gate_app.command("checklist")
def checklist(ticket_id: int, phase: Optional[str] = typer.Option(None, "--phase")) -> None:
    """Show the phase's done definitions and which are ticked."""
    from phaseloom.services.gates import GateService

    for item in GateService(state.uow(readonly=True)).done_definitions(ticket_id, phase):
        mark = "[green]✓[/]" if item.ticked else " "
        evidence = f" — {item.evidence} ({item.ticked_by})" if item.ticked else ""
        console.print(f"  [{mark}] {item.index}. {item.text}{evidence}", highlight=False, soft_wrap=True)


@gate_app.command("tick")
def tick(
    ticket_id: int,
    item: str = typer.Argument(..., help="Index (from 0) or exact text of the done definition."),
    evidence: str = typer.Option(..., "--evidence", "-e"),
    by: str = typer.Option("cli", "--by"),
    phase: Optional[str] = typer.Option(None, "--phase"),
) -> None:
    """Tick a done definition with evidence."""
    from phaseloom.services.gates import GateService

    checked = GateService(state.uow()).tick_done_definition(ticket_id, item, evidence, by=by, phase_id=phase)
    console.print(f"ticked {checked.index}. {checked.text}", highlight=False, soft_wrap=True)


@gate_app.command("approve")
def approve(
    ticket_id: int,
    criterion: str = typer.Argument(..., help="Index of the criterion in the gate's criteria list."),
    by: str = typer.Option(..., "--by"),
    note: str = typer.Option("", "--note"),
    phase: Optional[str] = typer.Option(None, "--phase"),
) -> None:
    """Record an approval for a manual_verification or code_review criterion."""
    from phaseloom.services.gates import GateService

    row = GateService(state.uow()).record_approval(ticket_id, criterion, by, note=note, phase_id=phase)
    console.print(f"approved {row.criterion_key} of {row.phase_id} (by {row.approved_by})", highlight=False,
                  soft_wrap=True)


@discovery_app.command("list")
def list_discoveries(
    ticket: Optional[int] = typer.Option(None, "--ticket"),
    type_: Optional[str] = typer.Option(None, "--type"),
    status: Optional[str] = typer.Option(None, "--status"),
    phase: Optional[str] = typer.Option(None, "--phase", help="Phase the work was spawned in."),
    as_json: bool = json_option(),
) -> None:
    """List discoveries, newest first."""
    from phaseloom.services.discovery import DiscoveryService

    found = DiscoveryService(state.uow(readonly=True)).list(ticket_id=ticket, discovery_type=type_,
                                                             status=status, phase_id=phase)
    if as_json:
        print_json([api_shape("discoveries", "DiscoveryOut", d) for d in found])
        return
    print_table(("id", "ticket", "type", "status", "from", "spawned in", "tasks", "description"), [
        (d.id, d.ticket_id, d.discovery_type, d.status,
         f"task {d.source_task_id}" if d.source_task_id else (d.source_phase_id or "-"),
         d.spawn_phase_id or "-", ", ".join(map(str, d.spawned_task_ids)) or "-", d.description) for d in found])


@discovery_app.command("record")
def record(
    discovery_type: str,
    description: str,
    task: Optional[int] = typer.Option(None, "--task", help="The task that found it."),
    ticket: Optional[int] = typer.Option(None, "--ticket"),
    spawn_phase: Optional[str] = typer.Option(None, "--spawn-phase", help="Queue a task in this phase."),
    spawn_description: Optional[str] = typer.Option(None, "--spawn-description"),
    boost: bool = typer.Option(False, "--boost", help="Raise the spawned task's priority one level."),
) -> None:
    """Record a discovery and optionally spawn a task for it in any phase."""
    from phaseloom.services.discovery import DiscoveryService

    d = DiscoveryService(state.uow()).record_discovery(task, discovery_type, description, spawn_phase,
                                                       spawn_description, boost, ticket, created_by="cli")
    spawned = f"; spawned task(s) {', '.join(map(str, d.spawned_task_ids))} in {d.spawn_phase_id}" \
        if d.spawned_task_ids else ""
    console.print(f"discovery {d.id} ({d.discovery_type}) recorded on ticket {d.ticket_id}{spawned}",
                  highlight=False, soft_wrap=True)


def graph(
    ticket_id: int,
    format_: str = typer.Option("mermaid", "--format", "-f", help="dot, mermaid or json."),
) -> None:
    """Print a ticket's task graph: dependencies, discoveries and phase progression."""
    import json  # here: the other commands of this module do not need it

    from phaseloom.domain.errors import InvalidInput
    from phaseloom.services.graph import GraphService, to_dot, to_mermaid

    renderers = {"json": lambda g: json.dumps(g, indent=2), "dot": to_dot, "mermaid": to_mermaid}
    if format_ not in renderers:
        raise InvalidInput(f"unknown graph format {format_!r}; expected dot, mermaid or json")
    data = GraphService(state.uow(readonly=True)).workflow_graph(ticket_id=ticket_id)
    # Plain stdout, not rich: the text is meant to be piped into dot or a Mermaid renderer.
    typer.echo(renderers[format_](data).rstrip("\n"))
