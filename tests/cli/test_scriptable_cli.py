"""Issue 17: a scriptable, conventional CLI (real subprocesses on a real SQLite file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from phaseloom import __version__
from tests.cli.support import run


@pytest.fixture
def demo(tmp_path):
    run(tmp_path, "init")
    run(tmp_path, "project", "create", "demo")
    return tmp_path


def test_version_and_help_show_flags_and_plain_argument_names(tmp_path):
    assert run(tmp_path, "--version").stdout.strip() == f"phaseloom {__version__}"
    top = run(tmp_path, "--help").stdout
    assert "--debug " in top and "<bool>" not in top
    board_help = run(tmp_path, "board", "--help").stdout
    assert "board [OPTIONS] PROJECT" in board_help and "{PROJECT}" not in board_help
    assert "--force  " in board_help or "--force " in board_help


def test_no_database_is_refused_without_creating_one(tmp_path):
    for args in (["ticket", "list"], ["project", "list"], ["board", "demo"]):
        proc = run(tmp_path, *args, check=False)
        assert proc.returncode == 2, args
        assert proc.stderr.strip() == ("error: no phaseloom database here: run `phaseloom init` "
                                       "or set PHASELOOM_DATABASE_URL")
    assert not (tmp_path / "p.db").exists()


def test_piped_tables_are_plain_full_width_columns(demo):
    long_title = "A very long ticket title that a narrow terminal table would cut short " * 3
    run(demo, "ticket", "create", "demo", long_title.strip())
    out = run(demo, "ticket", "list").stdout
    header, row = out.splitlines()
    assert header.split() == ["id", "title", "priority", "phase", "status"]
    assert long_title.strip() in row and "…" not in out and "│" not in out
    assert row.split()[0] == "1" and row.split()[-2:] == ["PHASE_BACKLOG", "backlog"]
    projects = run(demo, "project", "list").stdout.splitlines()
    assert projects[0].split() == ["id", "name", "workflow", "tickets", "repository"]
    assert projects[1].split() == ["1", "demo", "software_development", "1"]


def test_json_of_list_and_show_commands_is_the_apis_shape(demo):
    from phaseloom.schemas.api.board import BoardOut
    from phaseloom.schemas.api.tasks import TaskOut
    from phaseloom.schemas.api.tickets import HistoryOut, TicketOut

    created = json.loads(run(demo, "ticket", "create", "demo", "login", "--json").stdout)
    assert set(created) == set(TicketOut.model_fields) and created["phase_id"] == "PHASE_BACKLOG"
    listed = json.loads(run(demo, "ticket", "list", "--json").stdout)
    assert listed == [json.loads(run(demo, "ticket", "show", "1", "--json").stdout)]
    run(demo, "task", "create", "1", "backlog", "triage it")
    task = json.loads(run(demo, "task", "show", "1", "--json").stdout)
    assert set(task) == set(TaskOut.model_fields) and task["phase_id"] == "PHASE_BACKLOG"
    assert [t["id"] for t in json.loads(run(demo, "task", "list", "--json").stdout)] == [1]
    history = json.loads(run(demo, "ticket", "history", "1", "--json").stdout)
    assert set(history[0]) == set(HistoryOut.model_fields) and history[0]["reason"] == "created"
    board = json.loads(run(demo, "board", "demo", "--json").stdout)
    assert set(board) == set(BoardOut.model_fields) and board["columns"][0]["tickets"][0]["id"] == 1
    project = json.loads(run(demo, "project", "list", "--json").stdout)[0]
    assert project["name"] == "demo" and project["workflow_name"] == "software_development"


def test_phase_aliases_and_did_you_mean(demo):
    run(demo, "ticket", "create", "demo", "x")
    assert "PHASE_REQUIREMENTS" in run(demo, "ticket", "move", "1", "requirements").stdout
    assert "PHASE_DESIGN" in run(demo, "ticket", "move", "1", "Design").stdout
    assert "1" in run(demo, "ticket", "list", "--phase", "phase_design").stdout.splitlines()[1].split()
    proc = run(demo, "ticket", "move", "1", "implmentation", check=False)
    assert proc.returncode == 2
    message = proc.stderr.strip()
    assert message.startswith("error: unknown phase 'implmentation': did you mean PHASE_IMPLEMENTATION?")
    assert "valid phases: PHASE_BACKLOG, PHASE_REQUIREMENTS" in message


def test_wip_limit_names_force_and_a_forced_board_says_over_limit(demo):
    for n in range(6):
        run(demo, "ticket", "create", "demo", f"t{n}")
    for ticket in range(1, 6):
        run(demo, "ticket", "move", str(ticket), "requirements")
    refused = run(demo, "ticket", "move", "6", "requirements", check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("error: column 'analyzing' is at its WIP limit (5/5); "
                                      "rerun with --force to override (recorded in history)")
    run(demo, "ticket", "move", "6", "requirements", "--force")
    assert "6/5 over limit" in run(demo, "board", "demo").stdout


def test_ticket_create_respects_the_first_columns_wip_limit(tmp_path):
    flow = tmp_path / "tight.yaml"
    flow.write_text("phases:\n  - {id: PHASE_INBOX, allowed_transitions: [PHASE_DONE]}\n"
                    "  - {id: PHASE_DONE, is_terminal: true}\n"
                    "board_columns:\n  - {id: inbox, phase_mapping: [PHASE_INBOX], wip_limit: 1}\n"
                    "  - {id: done, phase_mapping: [PHASE_DONE]}\n")
    run(tmp_path, "init")
    run(tmp_path, "workflow", "load", str(flow))
    run(tmp_path, "project", "create", "p", "--workflow", "tight")
    run(tmp_path, "ticket", "create", "p", "first")
    refused = run(tmp_path, "ticket", "create", "p", "second", check=False)
    assert refused.returncode == 2 and "--force" in refused.stderr and "'inbox'" in refused.stderr
    assert len(json.loads(run(tmp_path, "ticket", "list", "--json").stdout)) == 1  # nothing written
    run(tmp_path, "ticket", "create", "p", "second", "--force")
    history = json.loads(run(tmp_path, "ticket", "history", "2", "--json").stdout)
    assert history[0]["forced"] is True


def test_gate_check_of_a_finished_ticket_says_so(tmp_path):
    flow = tmp_path / "short.yaml"
    flow.write_text("phases:\n  - {id: PHASE_A, allowed_transitions: [PHASE_DONE]}\n"
                    "  - {id: PHASE_DONE, is_terminal: true}\n")
    run(tmp_path, "init")
    run(tmp_path, "workflow", "load", str(flow))
    run(tmp_path, "project", "create", "p", "--workflow", "short")
    run(tmp_path, "ticket", "create", "p", "x")
    run(tmp_path, "ticket", "move", "1", "done")
    proc = run(tmp_path, "gate", "check", "1")
    assert "ticket 1 is finished (PHASE_DONE)" in proc.stdout and "FAILED" not in proc.stdout


def test_mcp_without_a_token_names_the_variable(demo):
    env = {k: v for k, v in os.environ.items() if k != "PHASELOOM_AGENT_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "phaseloom", "--database-url", f"sqlite:///{demo}/p.db", "mcp"],
                          cwd=demo, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "PHASELOOM_AGENT_TOKEN" in proc.stderr and "Traceback" not in proc.stderr


def test_an_unexpected_failure_is_one_line_and_exit_2(demo):
    (demo / "p.db").write_bytes(b"this is not a sqlite database" * 100)
    proc = run(demo, "ticket", "list", check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: DatabaseError") and "--debug" in lines[0]
    debug = run(demo, "--debug", "ticket", "list", check=False)
    assert "Traceback" in debug.stderr


def test_exit_codes_tell_a_usage_error_and_a_refusal_from_a_no(demo):
    """README's scheme: 2 when the command could not do what was asked, 1 when its answer is no."""
    usage = run(demo, "ticket", "list", "--no-such-flag", check=False)
    assert usage.returncode == 2 and "No such option" in usage.stderr and "Traceback" not in usage.stderr
    refused = run(demo, "ticket", "show", "999", check=False)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    run(demo, "ticket", "create", "demo", "first")
    no = run(demo, "gate", "check", "1", check=False)  # no task of the backlog has completed yet
    assert no.returncode == 1 and "Traceback" not in no.stderr


def test_a_terminal_table_folds_long_values_instead_of_cutting_them(demo):
    title = "ticket-" + "x" * 90
    run(demo, "ticket", "create", "demo", title)
    env = {**os.environ, "PHASELOOM_DATABASE_URL": f"sqlite:///{demo}/p.db", "COLUMNS": "60", "TTY_COMPATIBLE": "1"}
    out = subprocess.run([sys.executable, "-m", "phaseloom", "ticket", "list"], cwd=demo, env=env,
                         capture_output=True, text=True, timeout=60).stdout
    assert "│" in out and "…" not in out  # a table, and nothing ends in an ellipsis
    cells = "".join(line.split("│")[2].strip() for line in out.splitlines() if line.count("│") > 2)
    assert title in cells
