"""Code-first workflows written in Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from phaseloom import BoardColumn, Phase, Workflow
from phaseloom.domain.errors import WorkflowInvalid
from phaseloom.loaders.sources import load_workflow_source

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "code_first_workflow.py"


def test_example_loads_with_phase_objects_as_transitions():
    document = load_workflow_source(EXAMPLE)
    assert document.name == "code_first_review"
    by_id = {p.id: p for p in document.phases}
    assert by_id["PHASE_WRITE_CODE"].allowed_transitions == ["PHASE_REVIEW", "PHASE_BLOCKED"]
    assert by_id["PHASE_REVIEW"].allowed_transitions == ["PHASE_DONE", "PHASE_BLOCKED", "PHASE_WRITE_CODE"]
    assert document.board_columns[0].phase_mapping == ["PHASE_WRITE_CODE"]
    assert document.to_domain().initial_phase.id == "PHASE_WRITE_CODE"


def test_public_api_builds_the_same_document_as_yaml():
    done = Phase(id="PHASE_DONE", is_terminal=True)
    work = Phase(id="PHASE_WORK", allowed_transitions=[done], done_definitions="one thing")
    workflow = Workflow(name="w", phases=[work, done],
                        board_columns=[BoardColumn(id="doing", phase_mapping=[work], auto_transition_to=done)])
    assert work.done_definitions == ["one thing"]
    assert workflow.board_columns[0].auto_transition_to == "PHASE_DONE"
    assert workflow.model_dump() == Workflow.model_validate(workflow.model_dump()).model_dump()


@pytest.mark.parametrize("body", [
    "WORKFLOW = Workflow(name='upper', phases=[done])",
    "def build_workflow():\n    return Workflow(name='upper', phases=[done])",
    "workflow = {'name': 'upper', 'phases': [{'id': 'PHASE_DONE', 'is_terminal': True}]}",
])
def test_entry_points(tmp_path, body):
    path = tmp_path / "flow.py"
    path.write_text("from phaseloom import Phase, Workflow\n"
                    "done = Phase(id='PHASE_DONE', is_terminal=True)\n" + body + "\n")
    assert load_workflow_source(path).name == "upper"


def test_file_can_import_a_helper_beside_it(tmp_path):
    (tmp_path / "helpers_for_flow.py").write_text("PROMPT = 'YOU ARE HELPFUL.'\n")
    path = tmp_path / "flow.py"
    path.write_text("from helpers_for_flow import PROMPT\nfrom phaseloom import Phase, Workflow\n"
                    "workflow = Workflow(name='h', phases=[Phase(id='PHASE_DONE', is_terminal=True, "
                    "phase_prompt=PROMPT)])\n")
    assert load_workflow_source(path).phases[0].phase_prompt == "YOU ARE HELPFUL."


def test_validation_error_while_building_names_the_line_and_field(tmp_path):
    path = tmp_path / "flow.py"
    path.write_text("from phaseloom import Phase, Workflow\n\n"
                    "workflow = Workflow(name='w', phases=[\n"
                    "    {'id': 'PHASE_DONE', 'is_terminal': 'often'},\n"
                    "])\n")
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line, problem.field) == (str(path), 3, "phases[0].is_terminal")


def test_lint_problem_points_at_the_phase_definition(tmp_path):
    path = tmp_path / "flow.py"
    path.write_text("from phaseloom import Phase, Workflow\n"
                    "done = Phase(id='PHASE_DONE', is_terminal=True)\n"
                    "a = Phase(\n    id='PHASE_A',\n    allowed_transitions=[done],\n)\n"
                    "b = Phase(id='PHASE_A', allowed_transitions=[done])\n"
                    "workflow = Workflow(name='w', phases=[a, done, b])\n")
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    problem = caught.value.problems[0]
    assert "duplicate phase id 'PHASE_A'" in problem.message
    assert (problem.line, problem.field) == (3, "phases[2].id")  # both literal ids are PHASE_A: the first call


def test_mutation_after_construction_is_still_validated(tmp_path):
    path = tmp_path / "flow.py"
    path.write_text("from phaseloom import Phase, Workflow\n"
                    "done = Phase(id='PHASE_DONE', is_terminal=True)\n"
                    "workflow = Workflow(name='w', phases=[done])\n"
                    "workflow.phases[0].configuration.timeout_seconds = float('inf')\n")
    with pytest.raises(WorkflowInvalid, match="finite number"):
        load_workflow_source(path)


def test_system_exit_in_the_file_is_a_problem_not_an_exit(tmp_path):
    path = tmp_path / "flow.py"
    path.write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    assert caught.value.problems[0].line == 2 and "SystemExit" in caught.value.problems[0].message
