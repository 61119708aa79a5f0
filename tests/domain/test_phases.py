"""Transition rules: structured workflows enforce allowed_transitions, free-form ones allow any move."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phaseloom.domain.errors import InvalidTransition
from phaseloom.domain.phases import Phase, Workflow, WorkflowMode

IDS = [f"PHASE_{c}" for c in "ABCDEF"]


@st.composite
def workflows(draw):
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=6, unique=True))
    phases = tuple(
        Phase(id=pid, name=pid, sequence_order=i,
              allowed_transitions=tuple(draw(st.lists(st.sampled_from(ids), max_size=4, unique=True))),
              is_terminal=draw(st.booleans()))
        for i, pid in enumerate(ids)
    )
    return Workflow(name="w", phases=phases, mode=draw(st.sampled_from(list(WorkflowMode))))


@given(workflows(), st.sampled_from(IDS), st.sampled_from(IDS + ["PHASE_UNKNOWN"]))
def test_transition_allowed_exactly_when_the_mode_says_so(workflow, source, target):
    if not workflow.has_phase(source):
        return
    if workflow.mode is WorkflowMode.FREE_FORM:
        expected = workflow.has_phase(target) and target != source
    else:
        expected = target in workflow.phase(source).allowed_transitions
    try:
        assert workflow.check_transition(source, target).id == target
        allowed = True
    except InvalidTransition as exc:
        allowed = False
        assert exc.allowed == workflow.allowed_targets(source)
    assert allowed == expected


def test_invalid_transition_names_the_allowed_targets():
    workflow = Workflow(name="w", phases=(
        Phase("PHASE_A", "A", 0, allowed_transitions=("PHASE_B",)), Phase("PHASE_B", "B", 1),
        Phase("PHASE_C", "C", 2, is_terminal=True)))
    with pytest.raises(InvalidTransition, match="cannot move from PHASE_A to PHASE_C; allowed: PHASE_B"):
        workflow.check_transition("PHASE_A", "PHASE_C")


def test_initial_phase_is_the_lowest_ordered_active_phase():
    workflow = Workflow(name="w", phases=(
        Phase("PHASE_DONE", "Done", 0, is_terminal=True), Phase("PHASE_Z", "Z", 2), Phase("PHASE_Y", "Y", 1)))
    assert workflow.initial_phase.id == "PHASE_Y"
