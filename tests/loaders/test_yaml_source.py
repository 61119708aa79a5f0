"""OmoiOS-style YAML: the shipped workflows load, and problems point at the right line and field."""

from __future__ import annotations

import pytest

from phaseloom.domain.errors import WorkflowInvalid
from phaseloom.domain.phases import WorkflowMode
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
from phaseloom.loaders.yaml_source import line_of, read_yaml


def test_shipped_software_development_has_the_eight_default_phases():
    document = load_workflow_source(shipped_workflow("software_development"))
    workflow = document.to_domain()
    assert [p.id for p in workflow.ordered_phases][:7] == [
        "PHASE_BACKLOG", "PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION",
        "PHASE_TESTING", "PHASE_DEPLOYMENT", "PHASE_DONE"]
    assert workflow.has_phase("PHASE_BLOCKED") and len(workflow.phases) == 8
    assert {p.id for p in workflow.phases if p.is_terminal} == {"PHASE_DONE", "PHASE_BLOCKED"}
    assert workflow.mode is WorkflowMode.STRUCTURED
    assert all(p.phase_prompt and p.done_definitions for p in workflow.phases if not p.is_terminal)


def test_shipped_research_workflow_loads():
    workflow = load_workflow_source(shipped_workflow("research")).to_domain()
    assert [p.id for p in workflow.ordered_phases] == [
        "PHASE_RESEARCH", "PHASE_EVALUATION", "PHASE_DOCUMENTATION", "PHASE_DONE"]


def test_name_defaults_to_the_file_name_and_order_to_list_position(tmp_path):
    path = tmp_path / "tiny_flow.yaml"
    path.write_text("phases:\n  - id: PHASE_Z\n    allowed_transitions: [PHASE_A]\n"
                    "  - id: PHASE_A\n    is_terminal: true\n")
    document = load_workflow_source(path)
    assert document.name == "tiny_flow"
    assert [(p.id, p.sequence_order) for p in document.phases] == [("PHASE_Z", 0), ("PHASE_A", 1)]
    assert document.to_domain().initial_phase.id == "PHASE_Z"


def test_every_problem_is_reported_with_its_own_line(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text(
        "name: two\n"                      # 1
        "phases:\n"                        # 2
        "  - id: PHASE_A\n"                # 3
        "    is_terminal: perhaps\n"       # 4
        "  - id: PHASE_B\n"                # 5
        "    expected_outputs:\n"          # 6
        "      - {type: file}\n"           # 7
    )
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    located = {(p.field, p.line) for p in caught.value.problems}
    assert ("phases[0].is_terminal", 4) in located
    assert ("phases[1].expected_outputs[0].pattern", 7) in located
    assert all(p.file == str(path) for p in caught.value.problems)


def test_missing_file_is_a_workflow_problem(tmp_path):
    with pytest.raises(WorkflowInvalid, match="no such file"):
        load_workflow_source(tmp_path / "absent.yaml")


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: bom\nphases: [{id: PHASE_DONE, is_terminal: true}]\n")
    assert load_workflow_source(path).name == "bom"


def test_line_of_falls_back_to_the_deepest_known_node(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a:\n  b:\n    - 1\n    - 2\n")
    data = read_yaml(path)
    assert line_of(data, ("a", "b", 1)) == 4
    assert line_of(data, ("a", "missing", 3)) == 1
