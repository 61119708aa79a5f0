"""``settings.merge`` in a workflow file: read into the domain's MergeSettings, kept by every export format."""

from __future__ import annotations

import pytest

from phaseloom.domain.merge_queue import MergeSettings, merge_settings_of
from phaseloom.loaders.export import FORMATS
from phaseloom.loaders.sources import load_workflow_source
from tests.loaders.test_export import reload

WORKFLOW = """\
name: lands_on_trunk
phases:
  - id: PHASE_BUILD
    allowed_transitions: [PHASE_DONE]
  - id: PHASE_DONE
    is_terminal: true
settings:
  merge:
    into: trunk
    check: [make, test]
    strategy: squash
    return_to: PHASE_BUILD
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_merge_settings_are_read_and_survive_every_export(fmt, tmp_path):
    path = tmp_path / "lands.yaml"
    path.write_text(WORKFLOW)
    workflow = load_workflow_source(path).to_domain()
    assert merge_settings_of(workflow.settings) == MergeSettings(
        into="trunk", check=(("make", "test"),), strategy="squash", return_to="PHASE_BUILD")
    assert reload(workflow, fmt, tmp_path) == workflow


def test_return_to_must_be_a_working_phase(tmp_path):
    from phaseloom.domain.errors import WorkflowInvalid

    path = tmp_path / "lands.yaml"
    path.write_text(WORKFLOW.replace("return_to: PHASE_BUILD", "return_to: PHASE_DONE"))
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(path)
    assert "settings.merge.return_to: 'PHASE_DONE' is not a non-terminal phase" in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_workflow_without_merge_settings_has_none():
    assert merge_settings_of({}) is None and merge_settings_of({"merge": None}) is None
