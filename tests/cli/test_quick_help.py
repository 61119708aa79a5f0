"""``phaseloom --help`` from the stored page is what Typer prints, and needs no Typer."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from phaseloom.cli.help_text import TOP_LEVEL_HELP
from phaseloom.cli.quick_help import PROGRAM, typer_help


def _run(*argv: str, columns: int) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, check=True).stdout


def test_the_stored_page_is_typers_page():
    """Fails when a command's name or help changed: run ``python -m phaseloom.cli.quick_help`` to store it again."""
    assert TOP_LEVEL_HELP.replace(PROGRAM, "python -m phaseloom.cli.app") == typer_help()


@pytest.mark.parametrize("columns", [60, 80, 200])
@pytest.mark.parametrize("module", ["phaseloom.cli.app", "phaseloom"])
def test_help_reads_the_same_answered_quickly_or_by_typer(module, columns):
    # ``--debug --help`` always goes through Typer; a narrow terminal sends ``--help`` there too.
    quick = _run("-m", module, "--help", columns=columns)
    assert quick == _run("-m", module, "--debug", "--help", columns=columns)
    assert quick.startswith(f"Usage: python -m {module} [OPTIONS] COMMAND")


def _console_script(*argv: str, columns: int) -> str:
    code = (f"import sys; sys.argv = ['/usr/local/bin/phaseloom', *{list(argv)!r}]; from phaseloom.cli import main; "
            "main(); print('typer' in sys.modules, 'sqlalchemy' in sys.modules)")
    return _run("-c", code, columns=columns)


def test_the_console_script_answers_without_importing_typer():
    out = _console_script("--help", columns=100)
    assert out == TOP_LEVEL_HELP.replace(PROGRAM, "phaseloom") + "False False\n"
    # Typer prints its page and exits: no line after it. Too narrow for the stored page, Typer lays it out.
    assert _console_script("--debug", "--help", columns=100) == TOP_LEVEL_HELP.replace(PROGRAM, "phaseloom")
    assert _console_script("--help", columns=70) == _console_script("--debug", "--help", columns=70) != out
