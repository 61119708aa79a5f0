"""How list and show commands print: a table on a terminal, plain full-width columns in a pipe, or JSON.

``--json`` prints the API's shapes (the same pydantic ``...Out`` models the REST API returns; a list
is a JSON array of them), so a script can switch between ``phaseloom ... --json`` and ``GET /api/...``.
Nothing is ever truncated: in a pipe the columns are as wide as their longest value, and on a
terminal long values fold onto the next line instead of ending in an ellipsis.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence

import typer

from phaseloom.cli.context import console

JSON_OPTION_HELP = "Print JSON (the REST API's shapes) instead of a table."


def json_option() -> bool:
    return typer.Option(False, "--json", help=JSON_OPTION_HELP)


def print_json(value) -> None:
    """``value`` as indented JSON on stdout (datetimes as ISO 8601, as the API does)."""
    import json  # here: a table or ``--help`` does not need it

    sys.stdout.write(json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n")


def api_shape(schema: str, name: str, item) -> dict:
    """``item`` (a service view, row or dict) dumped through the API's response model ``schema.name``."""
    from importlib import import_module

    model = getattr(import_module(f"phaseloom.schemas.api.{schema}"), name)
    return model.model_validate(item).model_dump(mode="json")


def on_terminal() -> bool:
    """Whether stdout is a terminal (``TTY_COMPATIBLE=1`` says so for a pipe, as for rich). Unlike rich's
    own test, ``FORCE_COLOR`` does not count: colour in a pipe is no reason to draw boxes."""
    return os.environ.get("TTY_COMPATIBLE") == "1" or (os.environ.get("TTY_COMPATIBLE") != "0"
                                                       and sys.stdout.isatty())


def print_line(*parts: str | tuple[str, str]) -> None:
    """One line of text and ``(text, style)`` parts: styled by rich on a terminal; in a pipe the plain
    text, unwrapped, without importing rich (~30 ms). Either way the text is taken as it is (a title
    with ``[brackets]`` or ``:colons:`` is not read as markup or emoji)."""
    if on_terminal():
        from rich.text import Text

        console.print(Text.assemble(*parts), highlight=False)
        return
    sys.stdout.write("".join(part if isinstance(part, str) else part[0] for part in parts) + "\n")


def print_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A rich table on a terminal; in a pipe, a header and space-aligned columns with full values."""
    cells = [["" if value is None else str(value) for value in row] for row in rows]
    if on_terminal():
        from rich.table import Table

        table = Table(*columns)
        for column in table.columns:
            column.overflow = "fold"
        for row in cells:
            table.add_row(*row)
        console.print(table)
        return
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    for row in [list(columns), *cells]:
        line = "  ".join(value.ljust(width) for value, width in zip(row, widths))
        sys.stdout.write(line.rstrip() + "\n")
