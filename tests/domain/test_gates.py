"""Gate evaluation on given inputs, and the gate schema as workflows load it."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from phaseloom.domain import gates as g
from phaseloom.domain.errors import WorkflowInvalid
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
from phaseloom.domain.gate_definition import Gate
from phaseloom.schemas.gates import parse_gate


def gate_of(data: dict) -> Gate:
    """A gate as a workflow file declares it, validated by the schema, as the domain holds it."""
    return parse_gate(data).to_domain()


REQUIREMENTS_GATE = gate_of({
    "require_tasks_completed": False,
    "artifacts": [{"pattern": "requirements.md", "type": "document", "criteria": [
        {"type": "min_length", "value": 50},
        {"type": "required_sections", "sections": ["Overview", "Requirements", "Acceptance Criteria"]},
    ]}],
})
GOOD_REQUIREMENTS = ("# Overview\nA login page.\n\n## Requirements\n- users log in with email\n\n"
                     "## Acceptance criteria:\n- a wrong password is refused\n")


def test_missing_required_artifact_is_a_plain_reason():
    result = g.evaluate_gate(REQUIREMENTS_GATE, g.GateInputs())
    assert not result.passed
    assert result.blocking_reasons == ["required document requirements.md was not found"]


def test_short_artifact_without_sections_names_what_is_missing():
    text = "# Overview\nTODO\n"
    inputs = g.GateInputs(files=frozenset({"requirements.md"}), texts={"requirements.md": text})
    result = g.evaluate_gate(REQUIREMENTS_GATE, inputs)
    assert result.blocking_reasons == [
        "requirements.md is 15 characters long; at least 50 are required",
        "requirements.md is missing the section(s) Requirements, Acceptance Criteria",
    ]


def test_complete_artifact_passes_and_headings_ignore_case_and_colons():
    inputs = g.GateInputs(files=frozenset({"requirements.md"}), texts={"requirements.md": GOOD_REQUIREMENTS})
    result = g.evaluate_gate(REQUIREMENTS_GATE, inputs)
    assert result.passed, result.blocking_reasons
    assert [o.key for o in result.outcomes] == [
        "artifacts[0]", "artifacts[0].criteria[0]", "artifacts[0].criteria[1]"]


@pytest.mark.parametrize("pattern, path, expected", [
    ("src/**/*.py", "src/app.py", True),
    ("src/**/*.py", "src/pkg/deep/mod.py", True),
    ("src/**/*.py", "lib/src/app.py", False),
    ("*.md", "docs/readme.md", False),
    ("docs/?.md", "docs/a.md", True),
    ("./design.md", "design.md", True),
])
def test_glob_matching(pattern, path, expected):
    assert bool(g.matching(pattern, frozenset({path}))) is expected


def test_tasks_must_all_be_completed_and_at_least_one():
    gate = gate_of({})
    assert g.evaluate_gate(gate, g.GateInputs()).blocking_reasons == ["no task in this phase has completed yet"]
    tasks = (g.TaskState(1, "write", "completed"), g.TaskState(2, "fix bug", "running"),
             g.TaskState(3, "dropped", "cancelled"))
    assert g.evaluate_gate(gate, g.GateInputs(tasks=tasks)).blocking_reasons == ["task 2 'fix bug' is running"]
    assert g.evaluate_gate(gate, g.GateInputs(tasks=tasks[:1] + tasks[2:])).passed


def test_done_definitions_and_validation_requirements():
    gate = gate_of({"require_tasks_completed": False, "require_done_definitions": True,
                       "require_validation": True})
    inputs = g.GateInputs(done_definitions=(("Code written", True), ("Docs updated", False)),
                          validation_blockers=("no work in this phase has been reviewed yet",))
    assert g.evaluate_gate(gate, inputs).blocking_reasons == [
        "no work in this phase has been reviewed yet", "done definition(s) not ticked: 'Docs updated'"]
    ticked = g.GateInputs(done_definitions=(("Code written", True), ("Docs updated", True)))
    assert g.evaluate_gate(gate, ticked).passed


def _command_gate(kind: str, **extra) -> Gate:
    return gate_of({"require_tasks_completed": False,
                       "criteria": [{"type": kind, "command": ["pytest", "-q"], **extra}]})


@pytest.mark.parametrize("run, passed, reason", [
    (g.CommandRun(("pytest", "-q"), 0, "===== 12 passed in 0.3s ====="), True, "12 passed, 0 failed, 0 errors"),
    (g.CommandRun(("pytest", "-q"), 1, "3 passed, 2 failed in 1s"), False,
     "tests failed: 3 passed, 2 failed, 0 errors"),
    (g.CommandRun(("pytest", "-q"), 1, "1 passed, 1 error in 1s"), False, "tests failed: 1 passed, 0 failed, 1 errors"),
    (g.CommandRun(("pytest", "-q"), 5, "no tests ran in 0.01s"), False,
     "found no 'N passed' / 'M failed' counts in the output of `pytest -q`"),
    (g.CommandRun(("pytest", "-q"), None, "", timed_out=True), False, "`pytest -q` did not finish within 120 seconds"),
    (g.CommandRun(("pytest", "-q"), None, error="No such file or directory"), False,
     "`pytest -q` could not run: No such file or directory"),
])
def test_test_pass_parses_counts(run, passed, reason):
    result = g.evaluate_gate(_command_gate("test_pass"), g.GateInputs(commands={run.argv: run}))
    assert (result.passed, result.outcomes[-1].reason) == (passed, reason)


def test_test_pass_needs_the_minimum_number_of_passes():
    run = g.CommandRun(("pytest", "-q"), 0, "2 passed in 0.1s")
    result = g.evaluate_gate(_command_gate("test_pass", value=5), g.GateInputs(commands={run.argv: run}))
    assert result.blocking_reasons == ["only 2 test(s) passed; at least 5 required"]


def test_command_success_reports_exit_code_and_output_tail():
    run = g.CommandRun(("pytest", "-q"), 2, "lint\nE501 line too long\n")
    result = g.evaluate_gate(_command_gate("command_success"), g.GateInputs(commands={run.argv: run}))
    assert result.blocking_reasons == ["`pytest -q` exited with code 2: lint | E501 line too long"]
    assert not g.evaluate_gate(_command_gate("command_success"), g.GateInputs()).passed  # never ran


def test_hephaestus_criteria_are_accepted_and_approvals_count():
    gate = gate_of({"require_tasks_completed": False, "criteria": [
        {"type": "file_exists", "target": "README.md", "description": "readme exists"},
        {"check_type": "manual_verification", "target": "", "description": "login works in a browser"},
        {"type": "code_review", "description": "reviewed by a human"},
        {"type": "command_success", "target": "python -m pytest -q 'tests/a b'", "description": "tests"},
    ]})
    assert gate.criteria[3].command == ("python", "-m", "pytest", "-q", "tests/a b")
    assert [a for a, _ in g.declared_commands(gate)] == [("python", "-m", "pytest", "-q", "tests/a b")]
    inputs = g.GateInputs(files=frozenset({"README.md"}), approvals=frozenset({"criteria[1]"}))
    reasons = g.evaluate_gate(gate, inputs).blocking_reasons
    assert reasons == ["needs a recorded approval (code_review): reviewed by a human",
                       "`python -m pytest -q tests/a b` was not run"]


def test_percentages_and_performance_metrics():
    gate = gate_of({"require_tasks_completed": False, "criteria": [
        {"type": "min_percentage", "target": "coverage.txt", "value": 80},
        {"type": "performance_metric", "target": "bench.txt", "pattern": r"p95=(\d+)ms", "value": 200},
        {"type": "file_contains", "target": "*.txt", "pattern": "^TOTAL"},
    ]})
    texts = {"coverage.txt": "a.py 50%\nTOTAL 120 30 75%\n", "bench.txt": "p95=250ms"}
    result = g.evaluate_gate(gate, g.GateInputs(files=frozenset(texts), texts=texts))
    assert result.blocking_reasons == ["coverage.txt shows 75%; at least 80% is required",
                                       "measured 250 in bench.txt; must be at most 200"]
    texts = {"coverage.txt": "TOTAL 120 10 91.5%\n", "bench.txt": "p95=150ms"}
    assert g.evaluate_gate(gate, g.GateInputs(files=frozenset(texts), texts=texts)).passed


@pytest.mark.parametrize("gate, fragment", [
    ({"criteria": [{"type": "file_contains", "target": "a.md"}]}, "needs 'pattern'"),
    ({"criteria": [{"type": "command_success"}]}, "needs 'command'"),
    ({"criteria": [{"type": "teleport"}]}, "Input should be"),
    ({"criteria": [{"type": "file_contains", "target": "a", "pattern": "("}]}, "not a valid regular expression"),
    ({"artifacts": [{"pattern": "a.md", "criteria": [{"type": "min_length"}]}]}, "needs 'value'"),
    ({"require_task_completed": True}, "Extra inputs"),
])
def test_schema_refuses_bad_gates(gate, fragment):
    with pytest.raises(ValidationError) as info:
        parse_gate(gate)
    assert fragment in str(info.value)


def test_bad_gate_in_a_workflow_file_names_file_line_and_field(tmp_path):
    bad = tmp_path / "wf.yaml"
    bad.write_text(
        "phases:\n"
        "  - id: PHASE_A\n"
        "    allowed_transitions: [PHASE_Z]\n"
        "    gate:\n"
        "      criteria:\n"
        "        - {type: command_success, timeout_seconds: 5}\n"
        "  - id: PHASE_Z\n"
        "    is_terminal: true\n")
    with pytest.raises(WorkflowInvalid) as info:
        load_workflow_source(bad)
    assert f"{bad}:6: phases[0].gate.criteria[0]:" in str(info.value)
    assert "needs 'command'" in str(info.value)


def test_shipped_workflow_declares_real_gates():
    workflow = load_workflow_source(shipped_workflow("software_development")).to_domain()
    requirements = workflow.phase("PHASE_REQUIREMENTS").gate
    assert requirements.artifacts[0].pattern == "requirements.md"
    assert requirements.artifacts[0].criteria[1].sections == ("Overview", "Requirements", "Acceptance Criteria")
    assert workflow.phase("PHASE_IMPLEMENTATION").gate.criteria[0].target == "src/**/*.py"
    assert workflow.phase("PHASE_TESTING").gate.artifacts[0].pattern == "test_report.md"


def test_shipped_testing_gate_needs_a_passing_verdict_not_just_the_word():
    workflow = load_workflow_source(shipped_workflow("software_development")).to_domain()
    [verdict] = [c for c in workflow.phase("PHASE_TESTING").gate.artifacts[0].criteria
                 if c.type == "file_contains"]
    passing = ("Result: **PASSED** (exit code 0)", "**Result:** PASSED", "- result: passed")
    failing = ("Result: **FAILED** (exit code 1)", "3 passed, 1 failed\nResult: FAILED", "No test passed.")
    assert all(re.search(verdict.pattern, text) for text in passing)
    assert not any(re.search(verdict.pattern, text) for text in failing)


@pytest.mark.parametrize("data", [
    {},
    {"require_validation": True, "require_tasks_completed": False},
    {"artifacts": [{"pattern": "a.md", "type": "document", "required": False, "criteria": [
        {"type": "min_length", "value": 0}, {"type": "required_sections", "sections": ["A"]}]}]},
    {"criteria": [{"check_type": "test_pass", "target": "pytest -q", "timeout_seconds": 120},
                  {"type": "performance_metric", "target": "b.txt", "pattern": r"(\d+)", "value": 3,
                   "comparison": "at_least", "description": "fast"}]},
])
def test_the_domain_gate_stores_what_the_schema_stores(data):
    spec = parse_gate(data)
    gate = spec.to_domain()
    assert gate.as_stored() == spec.as_stored()
    assert Gate.from_stored(gate.as_stored()) == gate
