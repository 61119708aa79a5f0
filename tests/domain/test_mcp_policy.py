from __future__ import annotations

from fnmatch import fnmatchcase

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from phaseloom.domain.mcp_policy import McpPolicy, decide, visible_tools
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
from phaseloom.schemas.workflow import WorkflowDocument

TOOLS = ["get_my_task", "complete_task", "change_ticket_status", "submit_validation", "get_ticket"]


def test_no_applying_policy_allows_everything():
    policies = [McpPolicy(agent_type="validator", deny=("*",))]
    assert visible_tools(policies, "worker", "PHASE_DESIGN", TOOLS) == TOOLS


def test_deny_wins_across_policies_and_wildcards_match():
    policies = [McpPolicy(phase="PHASE_*", allow=("*",)),
                McpPolicy(agent_type="worker", phase="PHASE_TEST?NG", deny=("submit_*",), source="api")]
    assert visible_tools(policies, "worker", "PHASE_TESTING", TOOLS) == [
        "get_my_task", "complete_task", "change_ticket_status", "get_ticket"]
    decision = decide(policies, "worker", "PHASE_TESTING", "submit_validation")
    assert not decision.allowed and "'submit_*'" in decision.reason and "(api)" in decision.reason


def test_allow_list_limits_and_no_phase_matches_only_star():
    policies = [McpPolicy(agent_type="worker", phase="PHASE_DESIGN", allow=("get_*",))]
    assert visible_tools(policies, "worker", "PHASE_DESIGN", TOOLS) == ["get_my_task", "get_ticket"]
    assert "not in the allowed tools" in decide(policies, "worker", "PHASE_DESIGN", "complete_task").reason
    assert visible_tools(policies, "worker", None, TOOLS) == TOOLS


names = st.text(alphabet="abc_*", min_size=1, max_size=6)


@given(st.lists(st.tuples(st.lists(names, max_size=3), st.lists(names, max_size=3)), max_size=4), names)
def test_decision_matches_the_reference_rule(specs, tool):
    policies = [McpPolicy(allow=tuple(a), deny=tuple(d)) for a, d in specs]
    denied = any(fnmatchcase(tool, p) for _, deny in specs for p in deny)
    allowed = any(fnmatchcase(tool, p) for allow, _ in specs for p in allow)
    assert decide(policies, "worker", "P", tool).allowed == (not specs or (allowed and not denied))


def _document(settings: dict) -> dict:
    data = load_workflow_source(shipped_workflow("software_development")).model_dump(mode="json")
    return {**data, "settings": settings}


def test_workflow_file_policies_are_validated():
    ok = WorkflowDocument.model_validate(_document({"mcp_policies": [
        {"agent_type": "worker", "phase": "PHASE_TESTING", "deny": "change_ticket_status"}]}))
    assert ok.settings["mcp_policies"][0]["deny"] == "change_ticket_status"
    with pytest.raises(ValidationError, match="deny"):
        WorkflowDocument.model_validate(_document({"mcp_policies": [{"phase": "X", "deny": [""]}]}))
    with pytest.raises(ValidationError, match="agent"):
        WorkflowDocument.model_validate(_document({"mcp_policies": [{"agents": "worker"}]}))
