"""``phaseloom``: the command-line entry point."""

from __future__ import annotations

import sys

if __name__ == "__main__":  # ``python -m phaseloom.cli.app``: a plain ``--help`` needs no Typer (cli/quick_help.py)
    from phaseloom.cli.quick_help import answered

    if answered(sys.argv):
        sys.exit(0)

import copy  # noqa: E402 - after the quick answer above
import inspect  # noqa: E402
from typing import Optional  # noqa: E402

import typer  # noqa: E402
import typer.core  # noqa: E402

from phaseloom.cli import board, plain_coercion, projects, setup, tasks, tickets, workflows  # noqa: E402
from phaseloom.cli.context import err_console, state  # noqa: E402

plain_coercion.install()

# Typer writes a required argument as ``{PROJECT}`` on the usage line; conventional CLIs (and
# click) write ``PROJECT``. Optional arguments keep their ``[NAME]``.
_typer_usage_name = typer.core.TyperArgument._usage_display_name  # noqa: SLF001 - typer has no public hook for it


def _plain_usage_name(self) -> str:
    name = _typer_usage_name(self)
    return name[1:].replace("}", "", 1) if name.startswith("{") else name


typer.core.TyperArgument._usage_display_name = _plain_usage_name  # noqa: SLF001 - typer's, as above

app = typer.Typer(
    name="phaseloom",
    help="Run teams of AI coding agents through structured and free-form phases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain (click) help: flags shown as flags, not ``<bool>``; and no Markdown/Rich help renderer
    # to import, a third of ``--help``'s CPU.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from phaseloom import __version__

        sys.stdout.write(f"phaseloom {__version__}\n")
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", envvar="PHASELOOM_DATABASE_URL", metavar="URL",
        help="Database URL (default: SQLite in .phaseloom/)."
    ),
    _version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                  help="Print the version and exit."),
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
from phaseloom.cli import merge_queue as _merge_queue_cli  # noqa: E402

_merge_queue_cli.register(app)
from phaseloom.cli import doctor as _doctor_cli  # noqa: E402

_doctor_cli.register(app)
from phaseloom.cli import launch as _launch_cli, workflow_export as _workflow_export  # noqa: E402, F401

_launch_cli.register(app)


def error_message(exc) -> str:
    """One line for a domain error; a WIP refusal names the CLI's flag, not the API's field."""
    from phaseloom.domain.errors import WipLimitReached

    if isinstance(exc, WipLimitReached):
        return (f"column {exc.column!r} is at its WIP limit ({exc.in_use}/{exc.limit}); "
                "rerun with --force to override (recorded in history)")
    return str(exc)


def typed_command_path(argv: list[str]) -> list[str]:
    """The command names at the start of ``argv`` (``ticket``, ``list``), after the global options; empty
    when an option other than those comes first (``--help``, ``--version``: the whole app answers)."""
    index = 0
    while index < len(argv) and (argv[index] == "--debug" or argv[index].startswith("--database-url")):
        index += 2 if argv[index] == "--database-url" else 1
    path = []
    while index < len(argv) and not argv[index].startswith("-"):
        path.append(argv[index])
        index += 1
    return path


def only_the_typed_command(typer_app: typer.Typer, path: list[str]) -> typer.Typer:
    """``typer_app`` reduced to the command ``path`` names (a group keeps just the subcommand named next).

    Typer turns every registered command into a click command, inspecting its signature, before it
    parses anything: ~25 ms for our sixty commands, when one runs. Where the path ends at a group, or
    names nothing in it, no command of that level can run: it keeps every name and help line (for
    ``--help``, "no such command" and "did you mean") but not their parameters (:func:`listing_only`).
    """
    if not path:
        return listing_only(typer_app)
    name = path[0]
    commands = [c for c in typer_app.registered_commands if _command_name(c) == name]
    groups = [g for g in typer_app.registered_groups if isinstance(g.name, str) and g.name == name]
    if groups and groups[0].typer_instance.registered_callback:
        return typer_app
    if len(commands) + len(groups) != 1:
        return listing_only(typer_app)
    slim = copy.copy(typer_app)
    slim.registered_commands = commands
    slim.registered_groups = []
    if groups:
        group = copy.copy(groups[0])
        group.typer_instance = only_the_typed_command(group.typer_instance, path[1:])
        slim.registered_groups = [group]
    return slim


def _command_name(command: typer.models.CommandInfo) -> str:
    return command.name or typer.main.get_command_name(command.callback.__name__)


def _not_run() -> None:
    # Stands in for a listed command; no docstring, which Typer would read as that command's help.
    return None


def listing_only(typer_app: typer.Typer) -> typer.Typer:
    """``typer_app`` with each command and named group reduced to what a help listing shows: its name,
    help, short help and flags (hidden, deprecated), without parameters, so that Typer does not inspect
    their signatures (nor a group's commands). Only for a level where no command will run. A group
    with a callback keeps its commands, as its callback may be invoked."""
    slim = copy.copy(typer_app)
    slim.registered_commands = [_listed(command) for command in typer_app.registered_commands]
    slim.registered_groups = []
    for group in typer_app.registered_groups:
        if isinstance(group.name, str) and not group.typer_instance.registered_callback:
            group = copy.copy(group)
            group.typer_instance = copy.copy(group.typer_instance)
            group.typer_instance.registered_commands = []
            group.typer_instance.registered_groups = []
        slim.registered_groups.append(group)
    return slim


def _listed(command: typer.models.CommandInfo) -> typer.models.CommandInfo:
    listed = copy.copy(command)
    listed.name = _command_name(command)
    listed.help = command.help if command.help is not None else inspect.getdoc(command.callback)
    listed.callback = _not_run
    return listed


def main() -> None:
    """Run the CLI. A domain error is one line on stderr and exit code 2; so is an unexpected
    failure (database down, disk full, a bug), with its type; ``--debug`` shows the traceback."""
    from phaseloom.domain.errors import PhaseloomError

    try:
        only_the_typed_command(app, typed_command_path(sys.argv[1:]))()
    except PhaseloomError as exc:
        if state.debug:
            raise
        from rich.markup import escape

        err_console.print(f"[bold red]error:[/] {escape(error_message(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:
        if state.debug or "--debug" in sys.argv:
            raise
        from rich.markup import escape

        detail = " ".join(str(exc).split()) or "(no message)"
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(detail)}  (run with --debug for details)",
                          highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
