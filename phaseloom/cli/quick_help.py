"""``phaseloom --help`` from a stored copy of the text Typer prints, without importing Typer or a command.

Typer builds the whole listing (every group and command, through click) before it prints a line:
with the interpreter that is ~100 ms of CPU for a page that only changes when a command does. The
page is stored in :mod:`phaseloom.cli.help_text` (``python -m phaseloom.cli.quick_help`` writes it
again from the app) and tests/cli/test_quick_help.py checks it is what Typer prints. Only the plain
top-level ``--help`` at 80 columns or more is answered here: click lays help out at
``min(columns, 80) - 2``, so from 80 columns on the page is one text; anything else goes to Typer.
"""

from __future__ import annotations

import os
import sys

PROGRAM = "\x00PROGRAM\x00"  # where the program name goes in the stored text
WIDEST_LAYOUT = 80  # click's default max_content_width


def program_name(argv0: str | None = None) -> str:
    """The name click's help gives the program (its ``_detect_program_name``): ``phaseloom`` for the
    console script, ``python -m phaseloom.cli.app`` for the module run as a script."""
    main = sys.modules["__main__"]
    path = argv0 or sys.argv[0]
    package = getattr(main, "__package__", None)
    if package in {None, ""}:
        return os.path.basename(path)
    name = os.path.splitext(os.path.basename(path))[0]
    module = package if name == "__main__" else f"{package}.{name}"
    return f"python -m {module.lstrip('.')}"


def answered(argv: list[str]) -> bool:
    """Print the stored top-level help when ``argv`` asks for just that at a width where it holds."""
    if argv[1:] != ["--help"]:
        return False
    import shutil

    if shutil.get_terminal_size().columns < WIDEST_LAYOUT:
        return False
    from phaseloom.cli.help_text import TOP_LEVEL_HELP

    sys.stdout.write(TOP_LEVEL_HELP.replace(PROGRAM, program_name()))
    sys.stdout.flush()
    return True


def typer_help(columns: int = WIDEST_LAYOUT + 40) -> str:
    """The top-level help as Typer prints it, run as ``python -m phaseloom.cli.app`` (``--debug`` first,
    which changes nothing in the page, so that this module does not answer)."""
    import subprocess

    env = {**os.environ, "COLUMNS": str(columns)}
    result = subprocess.run([sys.executable, "-m", "phaseloom.cli.app", "--debug", "--help"], env=env,
                            capture_output=True, text=True, check=True)
    return result.stdout


def write_help_text() -> None:
    """Store Typer's page as :mod:`phaseloom.cli.help_text` (run after changing a command's name or help)."""
    from pathlib import Path

    module_name = "python -m phaseloom.cli.app"
    text = typer_help()
    assert PROGRAM not in text and text.startswith(f"Usage: {module_name} ")
    body = repr(text).replace(module_name, "\\x00PROGRAM\\x00")
    Path(__file__).with_name("help_text.py").write_text(
        '"""``phaseloom --help`` as Typer prints it, written by ``python -m phaseloom.cli.quick_help``: do not edit.\n\n'
        "tests/cli/test_quick_help.py fails when a command's name or help changed and this was not written again.\n"
        '"""\n\n'
        f"TOP_LEVEL_HELP = (\n    {body}\n)\n", encoding="utf-8")


if __name__ == "__main__":
    write_help_text()
