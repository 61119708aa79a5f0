"""``--help`` and other answers where no command runs are built from a listing-only app (no command's
parameters inspected): they must read exactly as the whole app's, at any width."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from phaseloom.cli.app import typed_command_path, app, only_the_typed_command
from tests.cli.support import run

ANSWERS_WITHOUT_A_COMMAND = [
    ["--help"], [], ["--debug"], ["--bogus"], ["tikcet"], ["ticket", "--help"], ["ticket"], ["task", "--help"],
    ["memory"], ["project", "lst"], ["workflow", "--help"], ["db", "--help"], ["board", "--help"],
    ["ticket", "show", "--help"],
]


@pytest.mark.parametrize("argv", ANSWERS_WITHOUT_A_COMMAND, ids=" ".join)
@pytest.mark.parametrize("columns", ["60", "200"])
def test_the_listing_only_app_answers_as_the_whole_app(argv, columns):
    runner = CliRunner(env={"COLUMNS": columns})
    slim = only_the_typed_command(app, typed_command_path(argv))
    whole = runner.invoke(app, argv, prog_name="phaseloom")
    listed = runner.invoke(slim, argv, prog_name="phaseloom")
    assert (listed.exit_code, listed.output) == (whole.exit_code, whole.output)
    assert whole.output.strip()


def test_the_top_level_listing_names_every_command_with_its_help_line():
    whole = typer.main.get_command(app)
    slim = typer.main.get_command(only_the_typed_command(app, []))
    assert list(slim.commands) == list(whole.commands) and len(whole.commands) > 20
    for name, command in whole.commands.items():
        assert slim.commands[name].get_short_help_str(60) == command.get_short_help_str(60), name
        assert slim.commands[name].hidden == command.hidden


def test_a_shown_title_is_printed_as_written_in_a_pipe(tmp_path):
    """Rich read ``[red]`` in a title as markup (and dropped it); the pipe now prints the text as is."""
    run(tmp_path, "init")
    run(tmp_path, "project", "create", "demo")
    title = "fix [red]x[/] in :smile: config"
    run(tmp_path, "ticket", "create", "demo", title, "--description", "see [b]y[/b]")
    shown = run(tmp_path, "ticket", "show", "1").stdout
    assert shown == f"ticket 1 {title} — PHASE_BACKLOG (backlog), priority MEDIUM\nsee [b]y[/b]\n"
