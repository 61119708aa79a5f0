"""``phaseloom``: the command-line entry point."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from phaseloom.cli import board, projects, setup, tasks, tickets, workflows
from phaseloom.cli.context import err_console, state

app = typer.Typer(
    name="phaseloom",
    help="Run teams of AI coding agents through structured and free-form phases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", envvar="PHASELOOM_DATABASE_URL", help="Database URL (default: SQLite in .phaseloom/)."
    ),
) -> None:
    state.debug = debug
    state.database_url = database_url


setup.register(app)
app.add_typer(workflows.workflow_app, name="workflow")
app.add_typer(workflows.phases_app, name="phases")
app.add_typer(projects.app, name="project")
app.add_typer(tickets.app, name="ticket")
app.add_typer(tasks.app, name="task")
board.register(app)
from phaseloom.cli import mcp as _mcp_cli  # noqa: E402

_mcp_cli.register(app)
from phaseloom.cli import serve as _serve_cli  # noqa: E402

_serve_cli.register(app)
from phaseloom.cli import gates as _gates_cli  # noqa: E402

_gates_cli.register(app)
from phaseloom.cli import recovery as _recovery_cli  # noqa: E402

_recovery_cli.register(app)

from phaseloom.cli import agents as _agents_cli, run as _run_cli  # noqa: E402

app.add_typer(_agents_cli.app, name="agent")
_run_cli.register(app)

from phaseloom.cli import memory as _memory_cli  # noqa: E402

app.add_typer(_memory_cli.app, name="memory")
from phaseloom.cli import costs as _costs_cli  # noqa: E402

_costs_cli.register(app)
from phaseloom.cli import guardian as _guardian_cli  # noqa: E402

_guardian_cli.register(app)
from phaseloom.cli import doctor as _doctor_cli  # noqa: E402

_doctor_cli.register(app)
from phaseloom.cli import launch as _launch_cli, workflow_export as _workflow_export  # noqa: E402, F401

_launch_cli.register(app)


def main() -> None:
    """Run the CLI; a domain error is one line on stderr and exit code 2 (``--debug`` for the traceback)."""
    from phaseloom.domain.errors import PhaseloomError

    try:
        app()
    except PhaseloomError as exc:
        if state.debug:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:  # an operational failure (database down, disk full): still no traceback
        if state.debug or "--debug" in sys.argv:
            raise
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}  (run with --debug for details)",
                          highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
