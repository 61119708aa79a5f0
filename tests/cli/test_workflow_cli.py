"""``phaseloom workflow …`` and ``phaseloom phases list`` as a user runs them: real subprocesses, SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CORPUS = ROOT / "tests" / "data" / "bad_workflows"


def command(tmp_path, *args) -> list[str]:
    return [sys.executable, "-m", "phaseloom.cli.app", "--database-url", f"sqlite:///{tmp_path}/p.db", *args]


def run(tmp_path, *args, check=True):
    proc = subprocess.run(command(tmp_path, *args), cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"})
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


def test_load_list_show_and_phases_for_every_format(tmp_path):
    run(tmp_path, "init")
    assert "hephaestus_bugfix v1: created (5 phases)" in run(tmp_path, "workflow", "load",
                                                              str(EXAMPLES / "hephaestus_bugfix")).stdout
    assert "code_first_review v1: created" in run(tmp_path, "workflow", "load",
                                                   str(EXAMPLES / "code_first_workflow.py")).stdout
    listed = run(tmp_path, "workflow", "list").stdout
    assert "hephaestus_bugfix" in listed and "free_form" in listed and "code_first_review" in listed
    shown = run(tmp_path, "workflow", "show", "hephaestus_bugfix").stdout
    assert "PHASE_FIND_ROOT_CAUSE" in shown and "any (free-form)" in shown
    phases = run(tmp_path, "phases", "list", "--workflow", "code_first_review").stdout
    assert phases.index("PHASE_WRITE_CODE") < phases.index("PHASE_REVIEW") < phases.index("PHASE_DONE")


def test_reload_is_a_no_op_and_changes_need_overwrite(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text("phases:\n  - {id: PHASE_A, allowed_transitions: [PHASE_DONE]}\n"
                    "  - {id: PHASE_DONE, is_terminal: true}\n")
    run(tmp_path, "init")
    assert "flow v1: created" in run(tmp_path, "workflow", "load", str(flow)).stdout
    assert "flow v1: unchanged" in run(tmp_path, "workflow", "load", str(flow)).stdout
    flow.write_text(flow.read_text().replace("PHASE_A,", "PHASE_A, description: changed,"))
    refused = run(tmp_path, "workflow", "load", str(flow), check=False)
    assert refused.returncode == 2 and "overwrite" in refused.stderr and "Traceback" not in refused.stderr
    assert "flow v2: updated" in run(tmp_path, "workflow", "load", str(flow), "--overwrite").stdout


def test_validate_writes_nothing(tmp_path):
    out = run(tmp_path, "workflow", "validate", str(EXAMPLES / "hephaestus_bugfix")).stdout
    assert "valid workflow hephaestus_bugfix (free_form, 5 phases" in out
    assert not (tmp_path / "p.db").exists()
    run(tmp_path, "init")
    assert "hephaestus_bugfix" not in run(tmp_path, "workflow", "list").stdout


def _dump(db: Path) -> list[str]:
    connection = sqlite3.connect(db)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


# One of each kind; tests/loaders/test_bad_workflows.py checks every file of the corpus in-process.
REPRESENTATIVE = ["syntax_error.yaml", "alias_bomb.yaml", "non_utf8.yaml", "unknown_transition.yaml",
                  "folder_bad_phase", "raises.py"]


@pytest.mark.slow
def test_bad_workflows_are_refused_and_the_database_is_unchanged(tmp_path):
    run(tmp_path, "init")
    before = _dump(tmp_path / "p.db")
    for name in REPRESENTATIVE:
        proc = run(tmp_path, "workflow", "load", "--overwrite", str(CORPUS / name), check=False)
        assert proc.returncode == 2, (name, proc.stderr)
        assert proc.stderr.startswith("error: workflow is invalid") and str(CORPUS / name) in proc.stderr
        assert "Traceback" not in proc.stderr
    assert _dump(tmp_path / "p.db") == before


def test_validate_lists_the_keys_kept_but_not_used(tmp_path):
    peers = ROOT / "tests" / "data" / "peer_formats"
    out = run(tmp_path, "workflow", "validate", str(peers / "hephaestus_triage")).stdout
    assert "valid workflow Crash_Triage" in out
    assert "kept, not used by phaseloom (6):" in out
    assert "  PHASE_REPRODUCE_CRASH: validation.validator_instructions" in out
    assert "  PHASE_EXPLAIN_CRASH: cli_tool" in out
    # get_tasks, submit_result and save_memory are offered now (issue 16 item 6): nothing is missing.
    assert "does not offer" not in out
    (tmp_path / "asks.yaml").write_text(
        "phases:\n  - id: PHASE_WORK\n    phase_prompt: call mcp__hephaestus__broadcast_message and get_tasks\n"
        "    allowed_transitions: [PHASE_DONE]\n  - id: PHASE_DONE\n    is_terminal: true\n")
    asks = run(tmp_path, "workflow", "validate", str(tmp_path / "asks.yaml")).stdout
    assert "does not offer (1):\n  PHASE_WORK: broadcast_message" in asks
    out = run(tmp_path, "workflow", "validate", str(peers / "omoios_docs_review.yaml")).stdout
    assert "  settings: board_columns.fixing.color_theme" in out
    assert "  PHASE_READ: expected_outputs[1].validation_rule" in out


def test_validate_names_the_undefined_target_next_to_the_schema_error(tmp_path):
    proc = run(tmp_path, "workflow", "validate", str(ROOT / "tests" / "data" / "peer_formats" / "omoios_broken.yaml"),
               check=False)
    assert proc.returncode == 2
    text = proc.stdout + proc.stderr
    assert "phases[0].is_terminal" in text and "unknown transition target 'PHASE_PLAN'" in text
    assert "Traceback" not in text
