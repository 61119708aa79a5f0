"""Hostile and broken workflow files: each is refused with file, line and field, and nothing is written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from phaseloom.db.models import Base
from phaseloom.domain.errors import WorkflowInvalid
from phaseloom.loaders.documents import load_workflow_data
from phaseloom.loaders.sources import load_workflow_source
from phaseloom.loaders.yaml_source import MAX_FILE_BYTES
from phaseloom.schemas.workflow import WorkflowDocument
from phaseloom.services.workflows import WorkflowService

CORPUS = Path(__file__).resolve().parent.parent / "data" / "bad_workflows"

# name -> (line or None where no line is meaningful, field ("" when none), words in the message)
EXPECTED = {
    "syntax_error.yaml": (4, "", "flow sequence that starts here"),
    "bad_indentation.yaml": (4, "", "YAML syntax error"),
    "wrong_types.yaml": (4, "phases[0].sequence_order", "valid integer"),
    "wrong_nested_type.yaml": (6, "phases[0].configuration.timeout_seconds", "greater than 0"),
    "unknown_transition.yaml": (6, "phases[1].allowed_transitions[1]", "unknown transition target 'PHASE_NOWHERE'"),
    "cycle_without_terminal.yaml": (2, "phases", "no terminal phase"),
    "cycle_without_exit.yaml": (7, "phases[1].allowed_transitions", "no terminal phase can be reached from 'PHASE_A'"),
    "duplicate_ids.yaml": (7, "phases[2].id", "duplicate phase id 'PHASE_A'"),
    "duplicate_keys.yaml": (5, "", 'duplicate key "allowed_transitions"'),
    "unknown_field.yaml": (5, "phases[0].alowed_transitions", "unknown field"),
    "terminal_with_transitions.yaml": (7, "phases[1].allowed_transitions", "terminal phase 'PHASE_DONE' has outgoing"),
    "board_unknown_phase.yaml": (9, "board_columns[1].phase_mapping[1]", "unknown phase 'PHASE_GONE'"),
    "not_a_mapping.yaml": (1, "", "expected a mapping"),
    "empty_phases.yaml": (2, "phases", "at least 1 item"),
    "python_tag.yaml": (4, "phases[0].description", "YAML tag !!python/object/apply:os.system is not supported"),
    "date_value.yaml": (7, "phases[1].description", "quote it"),
    "nul_character.yaml": (5, "phases[0].phase_prompt", "NUL character"),
    "infinite_timeout.yaml": (5, "phases[0].configuration.timeout_seconds", "finite number"),
    "huge_integer.yaml": (4, "phases[0].sequence_order", "too large"),
    "recursive_alias.yaml": (5, "phases[0].initial_tasks[0]", "valid dictionary"),
    "alias_bomb.yaml": (7, "a5", "alias bomb"),
    "many_aliases.yaml": (None, "", "too many YAML aliases"),
    "deep_nesting.yaml": (2, "", "nested too deeply"),
    "moderately_deep.yaml": (3, "settings.x[0][0]", "nested more than 64 levels"),
    "non_utf8.yaml": (4, "", "not valid UTF-8"),
    "utf16.yaml": (1, "", "not valid UTF-8"),
    "folder_bad_phase": (5, "Colour", "unknown field"),
    "folder_bad_config": (3, "on_result_found", "'stop_all', 'do_nothing', 'continue' or 'complete'"),
    "folder_misnamed_file": (None, "file name", "not a phase file"),
    "raises.py": (4, "", "RuntimeError: the workflow file gave up"),
    "no_workflow.py": (None, "", "defines no workflow"),
    "python_syntax_error.py": (3, "", "Python syntax error"),
    "python_invalid_phase.py": (4, "alowed_transitions", "unknown field"),
    "python_lint_error.py": (4, "phases[0].allowed_transitions[0]", "unknown transition target 'PHASE_NOWHERE'"),
    "python_wrong_type.py": (None, "", "must be a phaseloom.Workflow"),
    "merge_bad_strategy.yaml": (11, "settings.merge.strategy", "'merge', 'squash' or 'rebase'"),
    "merge_empty_check.yaml": (11, "settings.merge.check[1]", "non-empty argv"),
}
# The file a folder's problem is reported in.
FOLDER_FILE = {"folder_bad_phase": "02_fix.yaml", "folder_bad_config": "phases_config.yaml",
               "folder_misnamed_file": "second-phase.yaml"}


def test_corpus_and_expectations_match():
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "README.md"}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_bad_file_names_file_line_and_field(name):
    line, field, words = EXPECTED[name]
    path = CORPUS / name
    started = time.perf_counter()
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    assert time.perf_counter() - started < 10.0  # generous: CI machines are busy
    expected_file = str(path / FOLDER_FILE[name]) if name in FOLDER_FILE else str(path)
    matching = [p for p in caught.value.problems if words in p.message]
    assert matching, str(caught.value)
    problem = matching[0]
    assert (problem.file, problem.line, problem.field) == (expected_file, line, field)
    assert f"{expected_file}{'' if line is None else f':{line}'}:" in str(caught.value)


def test_folder_reports_every_bad_phase_file_together():
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(CORPUS / "folder_bad_phase")
    by_field = {p.field: p for p in caught.value.problems}
    assert by_field["Colour"].line == 5
    assert all(p.file.endswith("02_fix.yaml") for p in caught.value.problems)


def test_file_over_the_size_limit_is_refused_without_parsing(tmp_path):
    huge = tmp_path / "huge.yaml"
    phase = "  - id: PHASE_X\n    description: " + "x" * 1000 + "\n"
    huge.write_text("name: huge\nphases:\n" + phase * (MAX_FILE_BYTES // len(phase) + 1))
    started = time.perf_counter()
    with pytest.raises(WorkflowInvalid, match="workflow files are limited to"):
        load_workflow_source(huge)
    assert time.perf_counter() - started < 5.0


def test_too_many_phases_is_refused_quickly(tmp_path):
    many = tmp_path / "many.yaml"
    many.write_text("name: many\nphases:\n" + "".join(
        f"  - {{id: PHASE_{i}, allowed_transitions: [PHASE_{i + 1}]}}\n" for i in range(600)))
    started = time.perf_counter()
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(many)
    assert time.perf_counter() - started < 10.0
    assert caught.value.problems[0].field == "phases" and caught.value.problems[0].line == 2
    assert "at most 500" in caught.value.problems[0].message


def _snapshot(db) -> dict[str, list]:
    with db.engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(select(t)).all())) for t in Base.metadata.sorted_tables}


def test_loading_any_bad_file_leaves_the_database_unchanged(db, uow, project):
    before = _snapshot(db)
    for name in sorted(EXPECTED):
        with pytest.raises(WorkflowInvalid):
            document = load_workflow_source(CORPUS / name)
            WorkflowService(uow).save_document(document, source=name, overwrite=True)
    assert _snapshot(db) == before


# --- hypothesis: generated documents only ever give WorkflowInvalid -------------------------------

_PHASE_IDS = st.sampled_from(["PHASE_A", "PHASE_B", "PHASE_DONE", "bad id", "", "PHASE_" + "X" * 120])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), _PHASE_IDS)
_JSONISH = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
_ODD = st.one_of(_JSONISH, st.builds(object), st.sets(st.integers(), max_size=2), st.binary(max_size=4),
                 st.tuples(_PHASE_IDS), st.dictionaries(st.integers(), st.text(), max_size=2))


def _maybe(value_strategy):
    return st.one_of(value_strategy, _ODD)


_PHASE = st.fixed_dictionaries(
    {"id": _maybe(_PHASE_IDS)},
    optional={
        "name": _maybe(st.text(max_size=250)),
        "sequence_order": _maybe(st.integers(min_value=-(2**40), max_value=2**40)),
        "allowed_transitions": _maybe(st.lists(_PHASE_IDS, max_size=4)),
        "is_terminal": _maybe(st.booleans()),
        "done_definitions": _maybe(st.one_of(st.text(max_size=10), st.lists(st.text(max_size=10), max_size=3))),
        "expected_outputs": _maybe(st.lists(st.fixed_dictionaries(
            {"pattern": _maybe(st.text(max_size=10))}, optional={"required": _maybe(st.booleans())}), max_size=2)),
        "configuration": _maybe(st.fixed_dictionaries({}, optional={
            "timeout_seconds": _maybe(st.floats()), "max_retries": _maybe(st.integers()),
            "retry_backoff": _maybe(st.dictionaries(st.sampled_from(["base_seconds", "cap_seconds", "x"]),
                                                    _SCALARS, max_size=2))})),
        "gate": _maybe(st.dictionaries(st.sampled_from(["criteria", "artifacts", "require_validation"]),
                                       _JSONISH, max_size=2)),
        "initial_tasks": _maybe(st.lists(st.dictionaries(st.sampled_from(["title", "priority"]), _SCALARS),
                                         max_size=2)),
        "unexpected": _JSONISH,
    },
)
_COLUMN = st.fixed_dictionaries({"id": _maybe(st.sampled_from(["todo", "done", "bad id"])),
                                 "phase_mapping": _maybe(st.lists(_PHASE_IDS, max_size=3))},
                                optional={"wip_limit": _maybe(st.integers(min_value=-5, max_value=2**40)),
                                          "auto_transition_to": _maybe(_PHASE_IDS)})
_DOCUMENT = st.fixed_dictionaries(
    {"phases": _maybe(st.lists(_PHASE, max_size=5))},
    optional={"name": _maybe(st.sampled_from(["wf", "has space", "x" * 300])),
              "mode": _maybe(st.sampled_from(["structured", "free_form", "chaos"])),
              "board_columns": _maybe(st.lists(_COLUMN, max_size=3)),
              "settings": _maybe(st.dictionaries(st.text(max_size=5), _JSONISH, max_size=3))},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.one_of(_DOCUMENT, _ODD))
def test_generated_documents_give_a_document_or_workflow_invalid(document):
    try:
        loaded = load_workflow_data(document, file="generated.yaml")
    except WorkflowInvalid as exc:
        assert exc.problems and all(p.file == "generated.yaml" and p.message for p in exc.problems)
    else:
        assert isinstance(loaded, WorkflowDocument)
        assert any(p.is_terminal for p in loaded.phases)
