"""A workflow file can choose the runtime per phase (or for the whole workflow)."""

from __future__ import annotations

import pytest

from phaseloom.domain.errors import InvalidInput
from phaseloom.orchestrator.runtimes import configured_runtime, runtime_from_setting
from phaseloom.runtimes.command import CommandRuntime
from phaseloom.schemas.workflow import WorkflowDocument


def workflow(phase_config: dict, settings: dict | None = None):
    return WorkflowDocument.model_validate({
        "name": "wf", "settings": settings or {},
        "phases": [
            {"id": "PHASE_BUILD", "allowed_transitions": ["PHASE_DONE"], "configuration": phase_config},
            {"id": "PHASE_CHECK", "allowed_transitions": ["PHASE_DONE"]},
            {"id": "PHASE_DONE", "is_terminal": True},
        ]}).to_domain()


def test_phase_runtime_wins_then_workflow_runtime_then_none():
    wf = workflow({"runtime": {"command": ["my-agent", "--prompt-file", "{prompt_file}"]}},
                  {"runtime": "command:claude-code"})
    build = configured_runtime(wf, "PHASE_BUILD")
    assert isinstance(build, CommandRuntime) and build.argv == ["my-agent", "--prompt-file", "{prompt_file}"]
    check = configured_runtime(wf, "PHASE_CHECK")
    assert isinstance(check, CommandRuntime) and check.preset is not None
    assert configured_runtime(workflow({}), "PHASE_BUILD") is None


def test_a_bad_runtime_setting_is_refused_with_what_is_allowed():
    with pytest.raises(InvalidInput, match="command:<preset>"):
        runtime_from_setting({"shell": "rm -rf /"})
    with pytest.raises(InvalidInput):
        runtime_from_setting("command:no-such-preset")
