"""``phaseloom run``, ``phaseloom worker`` and ``phaseloom demo``."""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path
from typing import Optional

import typer
from phaseloom.cli.context import console, state
from phaseloom.domain.identifiers import is_number


def _pools(workers: int, validators: int, runtime: str, phase_pools: list[str]):
    from phaseloom.orchestrator.loop import PoolSpec

    pools = [PoolSpec("worker", size=workers, runtime=runtime)] if workers else []
    for item in phase_pools:
        phase, _, size = item.partition("=")
        if not phase or not is_number(size):
            raise typer.BadParameter(f"--phase-pool takes PHASE=N, not {item!r}")
        pools.append(PoolSpec(phase.lower().removeprefix("phase_"), size=int(size), phase_id=phase, runtime=runtime))
    if validators:
        pools.append(PoolSpec("validator", size=validators, agent_type="validator", capabilities=("validation",),
                              runtime=runtime))
    if not pools:
        raise typer.BadParameter("no agents: give --workers, --validators or --phase-pool")
    return tuple(pools)


def _on_signals(orchestrator) -> None:
    def stop(_signum, _frame):
        orchestrator.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def status_table(orchestrator):
    """Tickets by phase, running agents and recent events (a rich Table)."""
    from rich.table import Table
    from sqlalchemy import func, select

    from phaseloom.db.models import SystemEvent, Task, Ticket

    project_id = orchestrator.config.project_id  # ``run --project P``: P's tickets, tasks and events only
    by_phase = select(Ticket.phase_id, func.count()).group_by(Ticket.phase_id)
    running = select(Task.assigned_agent_id, Task.id, Task.phase_id).where(
        Task.status.in_(["claimed", "running"])).order_by(Task.id)
    recent = select(SystemEvent).order_by(SystemEvent.id.desc()).limit(8)
    if project_id is not None:
        by_phase = by_phase.where(Ticket.project_id == project_id)
        running = running.where(Task.project_id == project_id)
        recent = recent.where(SystemEvent.project_id == project_id)
    from phaseloom.services.pool_pauses import PoolPauseService

    table = Table("tickets by phase", "running agents", "recent events", expand=True)
    with orchestrator.uow() as uow:
        phases = uow.session.execute(by_phase).all()
        running = uow.session.execute(running).all()
        events = uow.session.scalars(recent).all()
        pauses = PoolPauseService(uow).current(project_id)
    agents = [f"{a} → task {t} ({p})" for a, t, p in running] + [f"pool {p.pool}: {p.label}" for p in pauses]
    table.add_row("\n".join(f"{p}: {n}" for p, n in phases) or "-",
                  "\n".join(agents) or "idle",
                  "\n".join(f"{e.event_type} {e.entity_type} {e.entity_id}" for e in events) or "-")
    return table


def _last_event_id(orchestrator) -> int:
    from sqlalchemy import func, select

    from phaseloom.db.models import SystemEvent

    with orchestrator.uow() as uow:
        return uow.session.scalar(select(func.max(SystemEvent.id))) or 0


def failed_for_good(orchestrator, after_event: int) -> list[str]:
    """One line per task that failed for good during the run (events after ``after_event``), with why: a
    refused write names its files here, not only on the ticket page."""
    from sqlalchemy import select

    from phaseloom.db.models import SystemEvent

    query = select(SystemEvent).where(SystemEvent.id > after_event, SystemEvent.event_type == "task.failed",
                                      SystemEvent.entity_type == "task").order_by(SystemEvent.id)
    if orchestrator.config.project_id is not None:
        query = query.where(SystemEvent.project_id == orchestrator.config.project_id)
    with orchestrator.uow() as uow:
        failed = [e for e in uow.session.scalars(query) if not (e.payload or {}).get("will_retry")]
        return [f"task {e.entity_id} ({e.phase_id}, ticket #{e.ticket_id}) failed: {(e.payload or {}).get('error', '')}"
                for e in failed]


def _loop(orchestrator, *, once: bool, quiet: bool, until_idle: bool = False,
          max_seconds: float | None = None) -> None:
    _on_signals(orchestrator)
    if once:
        orchestrator.start()
        orchestrator.tick()
        orchestrator.shutdown()
        return
    finished = orchestrator.idle if until_idle else (lambda: False)
    if quiet:
        orchestrator.run(until=finished, max_seconds=max_seconds)
        return
    from rich.live import Live

    with Live(status_table(orchestrator), console=console.real(), refresh_per_second=2) as live:
        def refresh() -> bool:
            live.update(status_table(orchestrator))
            return finished()

        orchestrator.run(until=refresh, max_seconds=max_seconds)


_RUNTIME_HELP = ("scripted, command (with --agent-command), command:<preset> (claude-code, codex, opencode, aider) "
                 "or openai.")
_COMMAND_HELP = ('A custom agent\'s argv template, e.g. "my-agent --prompt-file {prompt_file}" '
                 "(implies --runtime command).")
_MCP_HELP = ("MCP endpoint for agents (e.g. a running serve's http://host:8000/mcp; default PHASELOOM_MCP_URL); "
             "without one each agent launches `phaseloom mcp` over stdio.")


def _runtime_name(runtime: str, agent_command: str | None) -> str:
    if agent_command and runtime == "scripted":
        return "command"
    if agent_command and runtime != "command":
        raise typer.BadParameter(f"--agent-command goes with --runtime command, not {runtime!r}")
    return runtime


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        project: Optional[str] = typer.Option(None, "--project", metavar="PROJECT", help="Only this project's tickets."),
        workers: int = typer.Option(2, "--workers", help="Agents that work in any phase."),
        validators: int = typer.Option(1, "--validators", help="Validator agents for reviewed phases."),
        phase_pool: list[str] = typer.Option([], "--phase-pool", help="PHASE=N phase-specialised agents."),
        runtime: str = typer.Option("scripted", "--runtime", help=_RUNTIME_HELP),
        agent_command: Optional[str] = typer.Option(None, "--agent-command", help=_COMMAND_HELP),
        mcp_url: Optional[str] = typer.Option(None, "--mcp-url", help=_MCP_HELP),
        grace: float = typer.Option(30.0, "--grace", help="Seconds running tasks get to finish on Ctrl-C."),
        once: bool = typer.Option(False, "--once", help="Run one tick and stop."),
        until_idle: bool = typer.Option(False, "--until-idle", help="Stop when no task is pending or running."),
        max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help="Stop after this long."),
        quiet: bool = typer.Option(False, "--quiet", help="No live display."),
    ) -> None:
        """Run the orchestrator: reap leases, progress tickets through gates, dispatch tasks to agents."""
        runtime = _runtime_name(runtime, agent_command)
        orchestrator = _build(project, _pools(workers, validators, runtime, phase_pool), grace, manage=True,
                              agent_command=agent_command, mcp_url=mcp_url)
        first_event = _last_event_id(orchestrator)
        _loop(orchestrator, once=once, quiet=quiet, until_idle=until_idle, max_seconds=max_seconds)
        for line in failed_for_good(orchestrator, first_event):
            console.print(line, highlight=False, markup=False, soft_wrap=True)  # one line each, whatever the width
        console.print("orchestrator stopped; no task left claimed")

    @app.command("worker")
    def worker(
        database_url: Optional[str] = typer.Option(None, "--database-url", help="The shared database."),
        project: Optional[str] = typer.Option(None, "--project"),
        workers: int = typer.Option(1, "--workers"),
        validators: int = typer.Option(0, "--validators"),
        runtime: str = typer.Option("scripted", "--runtime", help=_RUNTIME_HELP),
        agent_command: Optional[str] = typer.Option(None, "--agent-command", help=_COMMAND_HELP),
        mcp_url: Optional[str] = typer.Option(None, "--mcp-url", help=_MCP_HELP),
        grace: float = typer.Option(30.0, "--grace"),
        max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help="Stop after this long."),
    ) -> None:
        """Run agents against a shared database (on any machine); the orchestrator moves tickets on."""
        if database_url:
            state.database_url = database_url
        runtime = _runtime_name(runtime, agent_command)
        orchestrator = _build(project, _pools(workers, validators, runtime, []), grace, manage=False,
                              agent_command=agent_command, mcp_url=mcp_url)
        _on_signals(orchestrator)
        orchestrator.run(max_seconds=max_seconds)

    @app.command("demo")
    def demo(
        folder: Optional[Path] = typer.Option(None, "--dir", help="Where to create the demo (default: a temp folder)."),
        max_seconds: float = typer.Option(120.0, "--max-seconds"),
        failing_suite: bool = typer.Option(False, "--failing-suite",
                                           help="Give the second ticket a bug its test catches: the gate holds it."),
    ) -> None:
        """Run two tickets through every phase with scripted agents, in a throw-away git repository."""
        from phaseloom.orchestrator.demo import run_demo

        target = folder or Path(tempfile.mkdtemp(prefix="phaseloom-demo-"))
        with console.status("scripted agents at work…"):
            summary = run_demo(target, max_seconds=max_seconds, failing_suite=failing_suite)
        _print_summary(summary)
        if not summary.all_done:
            raise typer.Exit(1)


def _build(project: Optional[str], pools, grace: float, *, manage: bool, agent_command: str | None = None,
           mcp_url: str | None = None):
    from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig
    from phaseloom.orchestrator.runtimes import runtime_factory, validate_runtime_names

    validate_runtime_names(pools)  # before the database is touched: nothing registers for a typo

    db = state.database()
    project_id = None
    if project:
        from phaseloom.services.projects import ProjectService

        project_id = ProjectService(state.uow()).get(project).id
    settings = state.settings
    config = OrchestratorConfig(pools=pools, project_id=project_id, grace_seconds=grace, manage_tickets=manage,
                                lease_seconds=settings.lease_seconds, memory_semantic=settings.memory_semantic,
                                workspace_root=settings.workspaces_home.resolve(),
                                log_dir=(settings.home / "logs").resolve(),
                                mcp_url=settings.mcp_url if mcp_url is None else mcp_url, api_url=settings.api_url,
                                freeze_heap=True, settings=settings)
    return Orchestrator(db, runtime_factory(db, command=agent_command), config)


def _print_summary(s) -> None:
    from rich.table import Table

    table = Table("ticket", "phase", "path")
    for t in s.tickets:
        table.add_row(f"#{t['id']} {t['title']}", t["phase"],
                      " → ".join(p.removeprefix("PHASE_").lower() for p in t["path"]))
    console.print(table)
    tasks = ", ".join(f"{n} {k}" for k, n in sorted(s.tasks.items()))
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(s.task_types.items()))
    reviews = ", ".join(f"{n} {k}" for k, n in sorted(s.reviews.items())) or "none"
    console.print(f"tasks: {tasks} ({kinds}); retries: {s.retries}; discoveries: {s.discoveries}", highlight=False)
    console.print(f"gates passed: {s.gates_passed}; merges into ticket branches: {s.merges}; "
                  f"artifacts: {s.artifacts}; reviews: {reviews}", highlight=False)
    for ticket_id, reasons in s.held.items():
        console.print(f"ticket #{ticket_id} held: {'; '.join(reasons) or 'still running when the demo stopped'}",
                      highlight=False)
    verdict = "[bold green]all tickets DONE[/]" if s.all_done else "[bold red]not every ticket reached DONE[/]"
    console.print(f"{verdict} in {s.seconds:.1f}s")
    console.print(f"\nLook around:\n  phaseloom --database-url {s.database_url} board demo\n"
                  f"  phaseloom --database-url {s.database_url} ticket list\n"
                  f"  git -C {s.repo} log --oneline --graph --all", highlight=False, soft_wrap=True)
