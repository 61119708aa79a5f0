"""Typer's parameters coerced without pydantic give what typer's pydantic adapters give, errors included."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

import phaseloom.cli.app  # noqa: F401 - installs the plain coercion, as the CLI does
from phaseloom.cli import plain_coercion


def echo_app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def echo(number: int = typer.Argument(...), name: str = typer.Option("x"),
             many: list[int] = typer.Option([], "--many"), flag: bool = typer.Option(False, "--flag")) -> None:
        typer.echo(repr((number, name, many, flag)))

    return app


def outcome(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_plain_values_and_every_odd_one_read_as_typer_reads_them(monkeypatch):
    cases = [("7",), ("+7", "--name", "n"), ("3", "--many", "1", "--many", "-2"), ("007", "--flag"),
             (" 7",), ("1_000",), ("7.0",), ("7.5",), ("x",), ("",), ("٣",), ("1", "--many", "x")]
    with_plain = [outcome(echo_app(), *case) for case in cases]
    monkeypatch.setattr(typer.core._TyperParameter, "get_runtime_param", plain_coercion.TYPER_RUNTIME_PARAM)
    with_pydantic = [outcome(echo_app(), *case) for case in cases]
    assert with_plain == with_pydantic
    assert with_plain[2] == (0, "(3, 'x', [1, -2], False)\n")
    assert with_plain[8][0] == 2 and "valid integer" in with_plain[8][1]
