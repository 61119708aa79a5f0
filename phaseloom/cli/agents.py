"""``phaseloom agent …``: the agent registry."""

from __future__ import annotations

from typing import Optional

import typer

from phaseloom.cli import reads
from phaseloom.cli.context import console, state
from phaseloom.cli.output import api_shape, json_option, print_json, print_table

app = typer.Typer(help="Register agents and see their health.", no_args_is_help=True)


def _service():
    from phaseloom.services.agents import AgentService

    return AgentService(state.uow())


@app.command("register")
def register_agent(
    name: str,
    agent_type: str = typer.Option("worker", "--type"),
    runtime: str = typer.Option("command", "--runtime"),
    phase: Optional[str] = typer.Option(None, "--phase", help="Phase-specialised agent."),
    capability: list[str] = typer.Option([], "--capability", "-c"),
    capacity: int = typer.Option(1, "--capacity"),
) -> None:
    """Register an agent and print its token (shown once)."""
    details = dict(agent_type=agent_type, runtime=runtime, phase_id=phase, capabilities=capability,
                   capacity=capacity)
    try:
        from phaseloom.services.auth import AuthService
    except ImportError:
        agent, token = _service().register_agent(name, **details), None
    else:
        agent, token = AuthService(state.uow()).register_agent(name, **details)
    console.print(f"agent {agent.id} [bold]{agent.name}[/] registered", highlight=False)
    if token:
        console.print(f"token (shown once): {token}", highlight=False)


@app.command("list")
def list_agents(as_json: bool = json_option()) -> None:
    """Every agent with its status, health and load."""
    agents = reads.agents_with_health()
    if as_json:
        print_json([api_shape("agents", "AgentOut", a) for a, _ in agents])
        return
    rows = []
    for a, h in agents:
        seen = "-" if h.seconds_since_heartbeat is None else f"{h.seconds_since_heartbeat:.0f}s ago"
        rows.append((a.id, a.name, a.agent_type, a.runtime, a.phase_id or "any", h.status, h.health,
                     f"{h.active_tasks}/{h.capacity}", seen))
    print_table(("id", "name", "type", "runtime", "phase", "status", "health", "load", "last heartbeat"), rows)


@app.command("deregister")
def deregister(agent_id: str, reason: str = typer.Option("deregistered by cli", "--reason")) -> None:
    """Take an agent out of service; the tasks it held go back to the queue."""
    released = _service().deregister(agent_id, reason=reason)
    console.print(f"agent {agent_id} deregistered; tasks returned to the queue: {released or 'none'}")


@app.command("reap")
def reap(threshold: float = typer.Option(120.0, "--threshold", help="Seconds of silence before offline.")) -> None:
    """Mark silent agents offline and return their tasks to the queue."""
    offline = _service().mark_stale_agents(threshold)
    console.print(f"marked offline: {', '.join(offline) or 'none'}")
