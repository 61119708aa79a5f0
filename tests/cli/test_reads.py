"""The read commands on a SQLite file read it through sqlite3 (phaseloom/cli/reads.py), with the same output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.cli.support import run

# Runs the CLI as ``python -m phaseloom.cli.app`` does, then names the heavy packages it imported.
HEAVY_IMPORTS_AFTER = """
import runpy, sys
sys.argv = ["phaseloom", *sys.argv[1:]]
try:
    runpy.run_module("phaseloom.cli.app", run_name="__main__")
except SystemExit:
    pass
print(sorted({m.split(".")[0] for m in sys.modules} & {"sqlalchemy", "pydantic", "pydantic_settings", "alembic"}))
"""


def _make_demo(folder):
    run(folder, "init")
    run(folder, "project", "create", "demo")
    run(folder, "ticket", "create", "demo", "first", "--priority", "HIGH")
    run(folder, "ticket", "create", "demo", "second")
    run(folder, "task", "create", "1", "backlog", "a task")
    run(folder, "ticket", "block", "2", "--reason", "waiting")
    return folder


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One project for the tests that only read it (six CLI calls, made once)."""
    return _make_demo(tmp_path_factory.mktemp("reads"))


@pytest.fixture
def own_demo(tmp_path):
    """A project of the test's own, for a test that writes."""
    return _make_demo(tmp_path)


def heavy_imports(folder, *args, env: dict | None = None) -> tuple[str, str]:
    """(the command's output without its last line, the packages named on that line); ``env`` adds
    variables to the usual ones, or removes those it maps to None."""
    changes = {"PHASELOOM_DATABASE_URL": f"sqlite:///{folder}/p.db", "COLUMNS": "200", **(env or {})}
    env = {**{k: v for k, v in os.environ.items() if k not in changes}, **{k: v for k, v in changes.items() if v}}
    proc = subprocess.run([sys.executable, "-c", HEAVY_IMPORTS_AFTER, *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=60)
    *output, imported = proc.stdout.splitlines()
    return "\n".join(output) + "\n", imported


@pytest.mark.parametrize("command", [("ticket", "list", "--project", "demo", "--phase", "Backlog"),
                                     ("ticket", "show", "2"), ("task", "list", "--ticket", "1"),
                                     ("board", "demo"), ("project", "list")])
def test_a_read_command_imports_no_orm_and_no_settings(demo, command):
    output, imported = heavy_imports(demo, *command)
    assert imported == "[]"
    assert output == run(demo, *command).stdout and output.strip()


def test_settings_that_could_matter_are_read_and_honoured(demo):
    """A ``phaseloom.toml`` (here naming the database) or a busy timeout in the environment: the settings
    are loaded (pydantic-settings), and the read is still a quick one on the file they name."""
    (demo / "phaseloom.toml").write_text(f'database_url = "sqlite:///{demo}/p.db"\n')
    try:
        output, imported = heavy_imports(demo, "ticket", "list", env={"PHASELOOM_DATABASE_URL": None})
    finally:
        (demo / "phaseloom.toml").unlink()  # the folder is shared by this module's tests
    assert imported == "['pydantic', 'pydantic_settings']" and "first" in output and "second" in output
    output, imported = heavy_imports(demo, "project", "list", env={"PHASELOOM_SQLITE_BUSY_TIMEOUT_MS": "5000"})
    assert imported == "['pydantic', 'pydantic_settings']" and output == run(demo, "project", "list").stdout


def test_a_write_then_a_read_of_the_same_ticket(own_demo):
    run(own_demo, "ticket", "unblock", "2")
    assert "PHASE_BACKLOG (backlog)" in run(own_demo, "ticket", "show", "2").stdout
    assert "blocked" not in run(own_demo, "board", "demo").stdout.split("Backlog", 1)[1].split("\n", 1)[0]


# Read commands moved to the quick path later: each prints what the ORM path prints, table and --json.
MOVED_READS = [("ticket", "history", "2"), ("task", "show", "1"), ("workflow", "list"),
               ("workflow", "show", "software_development"), ("workflow", "show", "1"),
               ("phases", "list"), ("agent", "list")]


def _through_the_orm(folder, *args):
    """The command on the same file through SQLAlchemy: a URL with an option is left to the services."""
    return heavy_imports(folder, *args, env={"PHASELOOM_DATABASE_URL": f"sqlite:///{folder}/p.db?timeout=30"})


@pytest.mark.parametrize("command", MOVED_READS)
def test_a_moved_read_prints_what_the_orm_path_prints_without_importing_it(demo, command):
    output, imported = heavy_imports(demo, *command)
    assert imported == "[]", imported
    orm_output, orm_imported = _through_the_orm(demo, *command)
    assert "sqlalchemy" in orm_imported and output == orm_output and output.strip()


@pytest.mark.parametrize("command", [c for c in MOVED_READS
                                     if c[:2] in {("ticket", "history"), ("task", "show"), ("agent", "list"), ("workflow", "list")}])
def test_a_moved_read_prints_the_same_json(demo, command):
    output, imported = heavy_imports(demo, *command, "--json")
    assert "sqlalchemy" not in imported and output == _through_the_orm(demo, *command, "--json")[0]
    assert output.startswith(("[", "{"))


def test_a_moved_read_of_something_missing_says_so_as_the_orm_path_does(demo):
    for command in (("ticket", "history", "99"), ("task", "show", "99"), ("workflow", "show", "nope")):
        quick = run(demo, *command, check=False)
        env = {**os.environ, "PHASELOOM_DATABASE_URL": f"sqlite:///{demo}/p.db?timeout=30", "COLUMNS": "200"}
        orm = subprocess.run([sys.executable, "-m", "phaseloom.cli.app", *command], cwd=demo, env=env,
                             capture_output=True, text=True, timeout=60)
        assert quick.returncode == orm.returncode != 0 and quick.stderr == orm.stderr
        assert command[-1] in quick.stderr


def test_agent_list_never_cuts_an_id_and_speaks_json(own_demo):
    name = "an-agent-whose-name-is-far-too-long-for-an-eighty-column-table"
    run(own_demo, "agent", "register", name, "--capability", "python")
    piped = run(own_demo, "agent", "list").stdout
    [agent] = json.loads(run(own_demo, "agent", "list", "--json").stdout)
    assert agent["name"] == name and agent["capabilities"] == ["python"]
    assert "…" not in piped and agent["id"] in piped and name in piped
