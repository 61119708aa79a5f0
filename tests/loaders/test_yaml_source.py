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


def test_unclosed_quote_is_reported_where_it_opens_with_the_give_up_point_as_a_hint(tmp_path):
    path = tmp_path / "quote.yaml"
    path.write_text(
        "name: quote\n"                             # 1
        "phases:\n"                                 # 2
        '  - id: PHASE_A\n    description: "never closed\n'  # 3-4
        "  - id: PHASE_DONE\n"                      # 5
        "    is_terminal: true\n"                   # 6
    )
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (4, 18)
    assert "quoted scalar that starts here" in problem.message
    assert "gave up at line 7, column 1" in problem.message
    assert str(problem).startswith(f"{path}:4:18: ")
    assert problem.as_dict()["column"] == 18


def test_unclosed_bracket_is_reported_at_the_bracket(tmp_path):
    path = tmp_path / "bracket.yaml"
    path.write_text("name: b\nphases: [{id: PHASE_DONE, is_terminal: true}\nboard_columns: []\n")
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (2, 9)
    assert "gave up at line 3" in problem.message


def test_a_duplicate_key_stays_located_at_the_duplicate(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("name: d\nname: e\nphases: [{id: PHASE_DONE, is_terminal: true}]\n")
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    assert [(p.line, p.column) for p in caught.value.problems] == [(2, 1)]
