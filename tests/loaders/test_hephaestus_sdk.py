"""Hephaestus SDK packages (``from src.sdk.models import Phase``), read without running them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from phaseloom.domain.errors import WorkflowInvalid
from phaseloom.domain.phases import WorkflowMode
from phaseloom.loaders.sources import kept_unused_keys, load_workflow_source
from tests.loaders.peer_support import PEER_FORMATS, ticket_on

PACKAGE = PEER_FORMATS / "crash_triage_sdk"


def triple_quoted(path: Path, keyword: str) -> str:
    """The text of ``keyword=\"\"\"...\"\"\"`` in a Python file, cut out without a parser."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f'{keyword}="""') + len(keyword) + 4
    return text[start:text.index('"""', start)]


def copy_package(tmp_path: Path, name: str = "renamed_flow") -> Path:
    target = tmp_path / name
    shutil.copytree(PACKAGE, target)
    return target


def problems_of(path: Path) -> list:
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    return caught.value.problems


def test_the_package_loads_its_phases_config_and_launch_template_across_its_files():
    document = load_workflow_source(PACKAGE)
    assert document.name == "crash_triage_sdk" and document.mode is WorkflowMode.FREE_FORM
    assert [(p.id, p.sequence_order) for p in document.phases] == [
        ("PHASE_COLLECT_EVIDENCE", 1), ("PHASE_EXPLAIN_CRASH", 2), ("PHASE_DONE", 3)]
    first = document.phases[0]
    # A module-level name of the phase file and an f-string of it are read, not run.
    assert first.done_definitions[0] == "Stack trace saved to notes/trace.txt"
    assert first.expected_outputs[0].pattern == "notes/trace.txt with the full stack trace"
    assert first.configuration.model_extra["runtime"] == "command:codex"
    assert ("PHASE_COLLECT_EVIDENCE", "cli_model") in kept_unused_keys(document)
    assert [c["type"] for c in first.gate["criteria"]] == ["file_exists", "file_contains"]
    assert first.gate["criteria"][1]["pattern"] == "Traceback|panic"
    settings = document.settings
    assert settings["has_result"] is True and settings["on_result_found"] == "do_nothing"  # "complete"
    assert settings["board_config"]["initial_status"] == "reported"
    template = document.launch_template
    assert [(p.name, p.type) for p in template.parameters] == [
        ("crash_title", "text"), ("crash_context", "textarea"), ("severity", "dropdown"),
        ("audience", "dropdown"), ("attempts", "number"), ("flaky", "boolean")]
    assert template.first_task_prompt == triple_quoted(PACKAGE / "phases.py", "phase_1_task_prompt")


def test_a_ticket_starts_in_the_first_phase_with_its_prompt_intact(uow):
    ticket, workflow = ticket_on(uow, load_workflow_source(PACKAGE))
    assert ticket.phase_id == "PHASE_COLLECT_EVIDENCE"
    prompt = workflow.phase("PHASE_COLLECT_EVIDENCE").phase_prompt
    assert prompt == triple_quoted(PACKAGE / "phase_1_collect_evidence.py", "additional_notes")
    assert 'run_case({"input": "bad"})' in prompt and "{crash_context}" in prompt
    assert workflow.settings["launch_template"]["parameters"][0]["name"] == "crash_title"


def test_phases_py_given_as_a_file_loads_the_same_workflow():
    assert load_workflow_source(PACKAGE / "phases.py") == load_workflow_source(PACKAGE)


def test_loading_runs_none_of_the_package(tmp_path):
    package = copy_package(tmp_path)
    marker = tmp_path / "ran"
    with (package / "phases.py").open("a") as extra:
        extra.write(f"\nopen({str(marker)!r}, 'w').write('x')\nraise SystemExit('would stop the loader')\n")
    document = load_workflow_source(package)
    assert len(document.phases) == 3 and not marker.exists()


def test_a_package_copied_under_another_name_still_follows_its_imports(tmp_path):
    document = load_workflow_source(copy_package(tmp_path, "my_triage"))
    assert document.name == "my_triage" and document.phases[1].id == "PHASE_EXPLAIN_CRASH"


def test_without_phases_py_every_phase_of_the_package_is_read_in_id_order(tmp_path):
    package = copy_package(tmp_path)
    (package / "phases.py").unlink()
    (package / "__init__.py").unlink()
    # A test script of the package that computes things at module level does not stop the scan.
    (package / "test_workflow.py").write_text("import sys\nfrom src.sdk.models import Phase\n"
                                              "ARGS = [sys.argv[1:], len(sys.argv)]\n")
    document = load_workflow_source(package)
    assert [p.id for p in document.phases] == ["PHASE_COLLECT_EVIDENCE", "PHASE_EXPLAIN_CRASH", "PHASE_DONE"]
    assert document.settings["enable_tickets"] is True and document.launch_template is None


def test_a_workflow_definition_gives_the_name_and_description(tmp_path):
    package = copy_package(tmp_path)
    with (package / "phases.py").open("a") as extra:
        extra.write("\nfrom src.sdk.models import WorkflowDefinition\n"
                    "TRIAGE = WorkflowDefinition(id='triage', name='Crash Triage', phases=TRIAGE_PHASES,\n"
                    "    config=TRIAGE_WORKFLOW_CONFIG, description='Explain crashes',\n"
                    "    launch_template=TRIAGE_LAUNCH_TEMPLATE)\n")
    document = load_workflow_source(package)
    assert (document.name, document.description) == ("Crash_Triage", "Explain crashes")


def test_a_value_computed_at_run_time_is_located_at_its_line_and_column(tmp_path):
    package = copy_package(tmp_path)
    path = package / "phase_2_explain_crash.py"
    path.write_text("import os\n" + path.read_text().replace(
        'working_directory=".",', 'working_directory=os.getenv("REPO", "."),'))
    [problem] = problems_of(package)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "os.getenv" in text)
    assert (problem.file, problem.line, problem.column) == (str(path.resolve()), line, 23)
    assert "os.getenv" in problem.message and "without running them" in problem.message


def test_an_unknown_argument_and_a_bad_parameter_type_name_their_lines(tmp_path):
    package = copy_package(tmp_path)
    phase = package / "phase_2_explain_crash.py"
    phase.write_text(phase.read_text().replace('name="explain_crash",', 'name="explain_crash",\n    colour="red",'))
    [problem] = problems_of(package)
    line = next(i for i, text in enumerate(phase.read_text().splitlines(), 1) if "colour" in text)
    assert (problem.field, problem.message, problem.line) == ("colour", "unknown field", line)
    phase.write_text(phase.read_text().replace('\n    colour="red",', ""))
    phases = package / "phases.py"
    phases.write_text(phases.read_text().replace('type="number"', 'type="integer"'))
    [problem] = problems_of(package)
    line = next(i for i, text in enumerate(phases.read_text().splitlines(), 1) if "integer" in text)
    assert problem.field == "LaunchTemplate.parameters[4].type" and problem.line == line
    assert "'number' or 'boolean'" in problem.message


def test_imports_naming_no_file_of_the_package_are_listed(tmp_path):
    package = tmp_path / "lonely"
    package.mkdir()
    (package / "phases.py").write_text("from src.sdk.models import Phase\n"
                                       "from example_workflows.lonely.phase_9 import PHASE_9\nPHASES = [PHASE_9]\n")
    [problem] = problems_of(package)
    assert "no phases" in problem.message and "example_workflows.lonely.phase_9 (phases.py:2)" in problem.message


def test_a_syntax_error_and_a_repeated_phase_id_are_located(tmp_path):
    package = copy_package(tmp_path)
    second = package / "phase_2_explain_crash.py"
    second.write_text(second.read_text().replace("id=2,", "id=1,"))
    [problem] = problems_of(package)
    assert problem.field == "id" and "also used by phase_1_collect_evidence.py" in problem.message
    (package / "board_config.py").write_text("from src.sdk.models import WorkflowConfig\nX = WorkflowConfig(\n")
    [problem] = problems_of(package)
    assert problem.file.endswith("board_config.py") and problem.line == 2 and "syntax error" in problem.message


def test_shared_names_cannot_blow_up_and_deep_nesting_is_refused(tmp_path):
    package = tmp_path / "laughs"
    package.mkdir()
    lines = ["from src.sdk.models import Phase", "L0 = ['ha']"]
    lines += [f"L{i} = [L{i - 1}, L{i - 1}]" for i in range(1, 41)]
    lines += ["P = Phase(id=1, name='laugh', description='', done_definitions=L40, working_directory='.')",
              "PHASES = [P]"]
    (package / "phases.py").write_text("\n".join(lines) + "\n")
    problems = problems_of(package)
    assert any("too large" in p.message for p in problems)
    (package / "phases.py").write_text("from src.sdk.models import Phase\nX = " + "[" * 5000 + "]" * 5000 + "\n")
    [problem] = problems_of(package)
    assert problem.file.endswith("phases.py") and ("nested too deeply" in problem.message
                                                   or "syntax error" in problem.message)
