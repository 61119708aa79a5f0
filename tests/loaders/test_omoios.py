"""OmoiOS workflow YAML as it ships: board and result fields, and one-pass validation."""

from __future__ import annotations

import pytest

from phaseloom.domain.errors import WorkflowInvalid
from phaseloom.loaders.sources import kept_unused_keys, load_workflow_source
from tests.loaders.peer_support import PEER_FORMATS, block_text, ticket_on

DOCS_REVIEW = PEER_FORMATS / "omoios_docs_review.yaml"
BROKEN = PEER_FORMATS / "omoios_broken.yaml"


def test_an_omoios_file_loads_and_a_ticket_starts_in_its_first_phase_with_the_prompt_intact(uow):
    document = load_workflow_source(DOCS_REVIEW)
    ticket, workflow = ticket_on(uow, document)
    assert ticket.phase_id == "PHASE_READ"
    prompt = workflow.phase("PHASE_READ").phase_prompt
    assert prompt == block_text(DOCS_REVIEW, "phase_prompt")
    assert '"quotes", \'apostrophes\' and a tab:\there' in prompt and "# not a YAML comment" in prompt


def test_name_with_a_space_and_the_result_fields_land_where_phaseloom_reads_them():
    document = load_workflow_source(DOCS_REVIEW)
    assert document.name == "Docs_Review"
    assert document.settings["display_name"] == "Docs Review"
    assert document.settings["has_result"] is True and document.settings["on_result_found"] == "stop_all"
    assert document.settings["result_criteria"].startswith("Every page of the guide")


def test_board_columns_are_ordered_by_sequence_order_and_auto_transition_names_a_column():
    workflow = load_workflow_source(DOCS_REVIEW).to_domain()
    assert [c.id for c in workflow.board_columns] == ["reading", "fixing", "finished"]
    fixing = workflow.board_columns[1]
    assert (fixing.wip_limit, fixing.auto_transition_to) == (4, "PHASE_FINISHED")
    assert workflow.board_columns[0].wip_limit is None


def test_keys_without_an_equivalent_are_kept_and_listed():
    document = load_workflow_source(DOCS_REVIEW)
    kept = kept_unused_keys(document)
    assert ("settings", "board_columns.fixing.color_theme") in kept
    assert ("settings", "board_columns.reading.description") in kept
    assert ("settings", "board_columns.finished.is_terminal") in kept
    assert ("PHASE_READ", "expected_outputs[1].validation_rule") in kept
    assert document.settings["kept_unused"]["board_columns.fixing.color_theme"] == "yellow"
    read = document.to_domain().phase("PHASE_READ")
    assert read.configuration.extra["kept_unused"] == {"expected_outputs[1].validation_rule": "min_passing: 1"}
    assert [o.pattern for o in read.expected_outputs] == ["notes/*.md", "checks/test_links.py"]


def test_continue_means_do_nothing(tmp_path):
    path = tmp_path / "go_on.yaml"
    path.write_text('on_result_found: "continue"\nhas_result: true\n'
                    "phases: [{id: PHASE_DONE, is_terminal: true}]\n")
    assert load_workflow_source(path).settings["on_result_found"] == "do_nothing"


def test_schema_and_reference_problems_are_reported_in_one_pass():
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(BROKEN)
    found = {(p.line, p.field, p.message) for p in caught.value.problems}
    assert (7, "phases[0].is_terminal", "Input should be a valid boolean, unable to interpret input") in found
    assert (6, "phases[0].allowed_transitions[0]", "unknown transition target 'PHASE_PLAN'") in found
    assert (12, "phases[2].id", "phase 'PHASE_ORPHAN' is unreachable from the initial phase 'PHASE_START'") in found
    assert (18, "board_columns[0].auto_transition_to", "unknown phase or board column 'nowhere'") in found
    assert len(found) == 4


def test_a_moved_column_is_still_located_at_its_own_line(tmp_path):
    path = tmp_path / "cols.yaml"
    path.write_text(
        "phases: [{id: PHASE_DONE, is_terminal: true}]\n"      # 1
        "board_columns:\n"                                     # 2
        "  - {id: late, sequence_order: 5, phase_mapping: [PHASE_DONE]}\n"   # 3
        "  - {id: early, sequence_order: 1, phase_mapping: [PHASE_GONE]}\n"  # 4
    )
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    assert [(p.line, p.field) for p in caught.value.problems] == [(4, "board_columns[1].phase_mapping[0]")]
