"""Hephaestus-style phase folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from phaseloom.domain.errors import WorkflowInvalid
from phaseloom.domain.phases import WorkflowMode
from phaseloom.loaders.sources import load_workflow_source

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hephaestus_bugfix"


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_example_folder_loads_as_free_form_with_its_settings():
    document = load_workflow_source(EXAMPLE)
    assert document.name == "hephaestus_bugfix" and document.mode is WorkflowMode.FREE_FORM
    assert [p.id for p in document.phases] == [
        "PHASE_REPRODUCE_BUG", "PHASE_FIND_ROOT_CAUSE", "PHASE_IMPLEMENT_FIX", "PHASE_VERIFY_FIX", "PHASE_DONE"]
    assert document.settings["has_result"] is True and document.settings["on_result_found"] == "stop_all"
    assert document.settings["enable_tickets"] is True
    assert document.settings["board_config"]["default_ticket_type"] == "bug"
    workflow = document.to_domain()
    assert workflow.allowed_targets("PHASE_VERIFY_FIX") == [
        "PHASE_REPRODUCE_BUG", "PHASE_FIND_ROOT_CAUSE", "PHASE_IMPLEMENT_FIX", "PHASE_DONE"]
    assert workflow.next_phase("PHASE_REPRODUCE_BUG").id == "PHASE_FIND_ROOT_CAUSE"


def test_keys_map_onto_phase_fields(tmp_path):
    folder = write(tmp_path / "flow", {
        "01_reproduce_bug.yaml": (
            "description: Reproduce it.\n"
            "Done_Definitions: Bug reproduced\n"
            "Additional_Notes: YOU ARE A REPRODUCER.\n"
            "Outputs: |\n  - reproduction.md\n  - logs\n"
            "Next_Steps: |\n  * an analyst takes over\n"
            "Working_Directory: ./app\n"
            "validation:\n  enabled: true\n  criteria:\n"
            "    - {description: notes exist, check_type: file_exists, target: [a.md, b.md]}\n"),
        "02_fix.yaml": "description: Fix it.\nvalidation: {enabled: false, criteria: [{check_type: test_pass}]}\n",
    })
    first, second, done = load_workflow_source(folder).phases
    assert (first.id, first.name, first.sequence_order) == ("PHASE_REPRODUCE_BUG", "Reproduce Bug", 1)
    assert first.done_definitions == ["Bug reproduced"]
    assert first.phase_prompt == "YOU ARE A REPRODUCER."
    assert [(o.type, o.pattern, o.required) for o in first.expected_outputs] == [
        ("description", "reproduction.md", False), ("description", "logs", False)]
    assert first.next_steps_guide == ["an analyst takes over"]
    assert first.working_directory == "./app"
    assert [(c["type"], c["target"], c["description"]) for c in first.gate["criteria"]] == [
        ("file_exists", "a.md", "notes exist"), ("file_exists", "b.md", "notes exist")]
    assert second.gate == {}
    assert (done.id, done.is_terminal, done.sequence_order) == ("PHASE_DONE", True, 3)
    assert load_workflow_source(folder).name == "flow"


def test_an_existing_done_phase_becomes_the_terminal_one(tmp_path):
    folder = write(tmp_path / "f", {"01_work.yaml": "description: w\n", "02_done.yaml": "description: finished\n"})
    phases = load_workflow_source(folder).phases
    assert [(p.id, p.is_terminal) for p in phases] == [("PHASE_WORK", False), ("PHASE_DONE", True)]


def test_a_declared_terminal_phase_adds_nothing(tmp_path):
    folder = write(tmp_path / "f", {"01_work.yaml": "description: w\n", "02_ship.yaml": "is_terminal: true\n"})
    assert [p.id for p in load_workflow_source(folder).phases] == ["PHASE_WORK", "PHASE_SHIP"]


def test_config_name_with_spaces_becomes_a_valid_workflow_name(tmp_path):
    folder = write(tmp_path / "f", {"01_a.yaml": "", "phases_config.yaml": "name: Bug Fix Flow!\n"})
    assert load_workflow_source(folder).name == "Bug_Fix_Flow"


def test_problems_name_the_phase_file_line_and_key(tmp_path):
    folder = write(tmp_path / "f", {
        "01_ok.yaml": "description: fine\n",
        "02_bad.yaml": "description: bad\nDone_Definitions:\n  - fine\n  - [not, text]\n"
                       "validation:\n  criteria:\n    - {check_type: file_exists}\n    - {check_type: nonsense}\n",
    })
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(folder)
    located = {(Path(p.file).name, p.line, p.field) for p in caught.value.problems}
    assert ("02_bad.yaml", 4, "Done_Definitions[1]") in located
    assert ("02_bad.yaml", 8, "validation.criteria[1].check_type") in located
    assert any(f == "validation.criteria[0]" and line == 7 for _, line, f in located), located


def test_duplicate_numbers_and_repeated_keys_are_refused(tmp_path):
    folder = write(tmp_path / "f", {"01_a.yaml": "", "01_b.yaml": "description: x\nDescription: y\n"})
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(folder)
    messages = " | ".join(str(p) for p in caught.value.problems)
    assert "phase number 1 is also used by 01_a.yaml" in messages
    assert "01_b.yaml:2: Description: given twice" in messages


def test_empty_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorkflowInvalid, match="no phase files"):
        load_workflow_source(tmp_path / "empty")


def test_duplicate_phase_ids_point_at_the_second_file(tmp_path):
    folder = write(tmp_path / "f", {"01_fix.yaml": "", "02_Fix.yaml": ""})
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(folder)
    problem = caught.value.problems[0]
    assert Path(problem.file).name == "02_Fix.yaml" and problem.field == "file name"
    assert "duplicate phase id 'PHASE_FIX'" in problem.message


HEPHAESTUS_TRIAGE = Path(__file__).resolve().parents[1] / "data" / "peer_formats" / "hephaestus_triage"


def test_a_hephaestus_folder_with_every_key_loads_and_a_ticket_starts_with_the_prompt_intact(uow):
    from tests.loaders.peer_support import block_text, ticket_on

    document = load_workflow_source(HEPHAESTUS_TRIAGE)
    ticket, workflow = ticket_on(uow, document)
    assert ticket.phase_id == "PHASE_REPRODUCE_CRASH"
    prompt = workflow.phase("PHASE_REPRODUCE_CRASH").phase_prompt
    assert prompt == block_text(HEPHAESTUS_TRIAGE / "01_reproduce_crash.yaml", "Additional_Notes")
    assert "\t(a line that starts with a tab" in prompt and "'bad input'   # crashes" in prompt


def test_the_full_validation_block_becomes_a_gate():
    phase = load_workflow_source(HEPHAESTUS_TRIAGE).to_domain().phase("PHASE_REPRODUCE_CRASH")
    criteria = phase.gate.criteria
    assert [(c.type, c.target) for c in criteria] == [
        ("file_exists", "repro.md"), ("file_exists", "notes/repro.md"),
        ("file_contains", "repro.md"), ("manual_verification", None)]
    import re

    contains = re.compile(criteria[2].pattern)
    assert contains.search("then run make run") and contains.search("pytest -q") and not contains.search("bash")
    assert phase.working_directory == "/srv/checkouts/crashy"


def test_cli_tool_becomes_the_runtime_and_keys_without_an_equivalent_are_kept():
    from phaseloom.loaders.sources import kept_unused_keys

    document = load_workflow_source(HEPHAESTUS_TRIAGE)
    first = document.to_domain().phase("PHASE_REPRODUCE_CRASH").configuration.extra
    assert first["runtime"] == "command:claude-code"
    assert first["kept_unused"]["cli_model"] == "opus"
    assert first["kept_unused"]["validation.validator_instructions"].startswith("Run the steps in repro.md")
    assert kept_unused_keys(document) == [
        ("PHASE_REPRODUCE_CRASH", "cli_model"), ("PHASE_REPRODUCE_CRASH", "glm_api_token_env"),
        ("PHASE_REPRODUCE_CRASH", "validation.validator_instructions"),
        ("PHASE_REPRODUCE_CRASH", "validation.criteria[0].evidence_required"),
        ("PHASE_REPRODUCE_CRASH", "validation.criteria[2].evidence_required"),
        ("PHASE_EXPLAIN_CRASH", "cli_tool")]


def test_on_result_found_continue_is_do_nothing_and_the_name_is_made_a_name():
    document = load_workflow_source(HEPHAESTUS_TRIAGE)
    assert document.name == "Crash_Triage"
    assert document.settings["on_result_found"] == "do_nothing" and document.settings["has_result"] is True


def test_a_bad_pattern_in_a_criterion_is_located_at_its_line(tmp_path):
    folder = write(tmp_path / "flow", {"01_look.yaml": (
        "description: Look.\n"                 # 1
        "validation:\n"                        # 2
        "  criteria:\n"                        # 3
        "    - check_type: file_contains\n"    # 4
        "      target: notes.md\n"             # 5
        "      pattern: '([unclosed'\n"        # 6
    )})
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(folder)
    (problem,) = caught.value.problems
    assert problem.file.endswith("01_look.yaml") and "regular expression" in problem.message
    assert (problem.line, problem.field) == (6, "validation.criteria[0].pattern")
