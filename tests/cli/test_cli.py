"""The CLI as a user runs it: a real subprocess on a fresh SQLite file."""

from __future__ import annotations

from tests.cli.support import run


def test_init_project_ticket_board(tmp_path):
    assert "software_development" in run(tmp_path, "init").stdout
    run(tmp_path, "project", "create", "demo")
    assert "PHASE_BACKLOG" in run(tmp_path, "ticket", "create", "demo", "Add login", "-p", "HIGH").stdout
    run(tmp_path, "ticket", "move", "1", "PHASE_REQUIREMENTS", "--reason", "triaged")
    board = run(tmp_path, "board", "demo").stdout
    assert "Analyzing" in board and "#1 Add login" in board and "1/5" in board
    history = run(tmp_path, "ticket", "history", "1").stdout
    assert "triaged" in history


def test_domain_error_is_one_line_exit_2(tmp_path):
    run(tmp_path, "init")
    run(tmp_path, "project", "create", "demo")
    run(tmp_path, "ticket", "create", "demo", "x")
    proc = run(tmp_path, "ticket", "move", "1", "PHASE_DONE", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: cannot move from PHASE_BACKLOG to PHASE_DONE; allowed: PHASE_REQUIREMENTS, PHASE_BLOCKED"]
    assert "Traceback" not in proc.stderr


def test_validate_names_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("phases:\n  - id: PHASE_A\n    allowed_transitions: [PHASE_NOPE]\n    is_terminal: false\n"
                   "  - id: PHASE_Z\n    is_terminal: true\n")
    proc = run(tmp_path, "workflow", "validate", str(bad), check=False)
    assert proc.returncode == 2
    assert f"{bad}:3: phases[0].allowed_transitions[0]: unknown transition target 'PHASE_NOPE'" in proc.stderr
