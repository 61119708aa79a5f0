"""``load(export(w)) == w`` for every shipped and imported workflow, in every format, and for generated ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phaseloom.domain.errors import InvalidInput
from phaseloom.loaders.export import (
    FORMATS,
    export_hephaestus,
    export_omoios,
    export_phaseloom,
)
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
from phaseloom.schemas.workflow import WorkflowDocument
from phaseloom.services.workflows import WorkflowService
from tests.loaders.peer_support import PEER_FORMATS

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "software_development": shipped_workflow("software_development"),
    "research": shipped_workflow("research"),
    "hephaestus_folder": PEER_FORMATS / "hephaestus_triage",
    "hephaestus_sdk": PEER_FORMATS / "crash_triage_sdk",
    "omoios": PEER_FORMATS / "omoios_docs_review.yaml",
    "example_folder": ROOT / "examples" / "hephaestus_bugfix",
    "code_first": ROOT / "examples" / "code_first_workflow.py",
}


def reload(workflow, fmt: str, tmp_path: Path):
    """Export ``workflow`` in ``fmt``, write it where a user would, and load it back."""
    if fmt == "hephaestus":
        folder = tmp_path / f"{workflow.name}-folder"
        folder.mkdir()
        for name, text in export_hephaestus(workflow).items():
            (folder / name).write_text(text, encoding="utf-8")
        return load_workflow_source(folder).to_domain()
    path = tmp_path / f"{workflow.name}-{fmt}.yaml"
    path.write_text((export_omoios if fmt == "omoios" else export_phaseloom)(workflow), encoding="utf-8")
    return load_workflow_source(path).to_domain()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_shipped_and_imported_workflow_round_trips(source, fmt, tmp_path):
    workflow = load_workflow_source(SOURCES[source]).to_domain()
    assert reload(workflow, fmt, tmp_path) == workflow


def test_a_stored_workflow_round_trips_through_the_database(uow, tmp_path):
    for source in ("software_development", "hephaestus_sdk", "omoios"):
        document = load_workflow_source(SOURCES[source])
        WorkflowService(uow).save_document(document, source="test")
        stored = WorkflowService(uow).get(document.name)
        for fmt in FORMATS:
            assert reload(stored, fmt, tmp_path) == stored, fmt


def test_the_hephaestus_folder_uses_the_keys_hephaestus_reads(tmp_path):
    files = export_hephaestus(load_workflow_source(SOURCES["hephaestus_sdk"]).to_domain())
    assert sorted(files) == ["01_collect_evidence.yaml", "02_explain_crash.yaml", "03_done.yaml",
                             "phases_config.yaml"]
    first = files["01_collect_evidence.yaml"]
    for key in ("Done_Definitions:", "Additional_Notes: |", "Outputs:", "Next_Steps:", "validation:",
                "check_type: file_contains", "cli_tool: codex", "cli_model: gpt-5"):
        assert key in first
    assert "has_result: true" in files["phases_config.yaml"]


def test_a_phase_a_folder_cannot_name_is_refused_with_the_reason():
    document = WorkflowDocument.model_validate({"name": "w", "phases": [
        {"id": "build-it", "allowed_transitions": ["PHASE_DONE"]}, {"id": "PHASE_DONE", "is_terminal": True}]})
    with pytest.raises(InvalidInput, match="'build-it' cannot be a Hephaestus phase file"):
        export_hephaestus(document.to_domain())


# Text the formats must carry exactly: braces, quotes, colons, tabs, trailing spaces, unicode, blank lines.
PIECES = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85\u2028\u2029"),
                 max_size=8) | st.sampled_from(["\n", "\t", " ", "{name}", ": ", "'", '"', "#", "- ", "🎯", "\n\n"])
TEXT = st.lists(PIECES, max_size=8).map("".join)
STEMS = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True).filter(lambda s: s != "DONE")


@st.composite
def workflows(draw):
    stems = draw(st.lists(STEMS, min_size=1, max_size=4, unique=True))
    free_form = draw(st.booleans())
    ids = [f"PHASE_{s}" for s in stems] + ["PHASE_DONE"]
    phases = []
    for order, phase_id in enumerate(ids, start=1):
        last = phase_id == "PHASE_DONE"
        phases.append({
            "id": phase_id, "name": draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)),
            "sequence_order": order, "is_terminal": last,
            "allowed_transitions": [] if last else [ids[order]],
            "description": draw(TEXT), "phase_prompt": draw(TEXT),
            "done_definitions": draw(st.lists(TEXT, max_size=2)),
            "next_steps_guide": draw(st.lists(TEXT, max_size=2)),
            "expected_outputs": draw(st.lists(st.fixed_dictionaries({
                "type": st.sampled_from(["file", "description"]), "pattern": TEXT.filter(str.strip),
                "required": st.booleans()}), max_size=2)),
            "configuration": {"max_retries": draw(st.integers(0, 9)),
                              **({"runtime": "command:codex"} if draw(st.booleans()) else {})},
        })
    data = {"name": "generated", "description": draw(TEXT), "mode": "free_form" if free_form else "structured",
            "phases": phases, "settings": {"has_result": draw(st.booleans()), "result_criteria": draw(TEXT)}}
    if draw(st.booleans()):
        data["launch_template"] = {"parameters": [{"name": "topic", "label": draw(TEXT)}],
                                   "first_task_prompt": draw(TEXT.filter(lambda t: len(t) > 0))}
    return WorkflowDocument.model_validate(data).to_domain()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workflow=workflows(), fmt=st.sampled_from(FORMATS))
def test_generated_workflows_round_trip_in_every_format(workflow, fmt, tmp_path_factory):
    assert reload(workflow, fmt, tmp_path_factory.mktemp("export")) == workflow
