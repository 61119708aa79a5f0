"""Each lint rule, on domain workflows built directly."""

from __future__ import annotations

import time

from phaseloom.domain.phases import BoardColumn, Phase, Workflow, WorkflowMode
from phaseloom.domain.workflow_rules import lint_workflow


def phase(pid, order=0, to=(), terminal=False):
    return Phase(id=pid, name=pid, sequence_order=order, allowed_transitions=tuple(to), is_terminal=terminal)


def lint(*phases, columns=(), mode=WorkflowMode.STRUCTURED):
    return lint_workflow(Workflow(name="w", phases=tuple(phases), board_columns=tuple(columns), mode=mode))


DONE = phase("PHASE_DONE", 9, terminal=True)


def test_a_sound_workflow_has_no_problems():
    assert lint(phase("PHASE_A", 0, ["PHASE_DONE"]), DONE) == []


def test_unknown_transition_target():
    assert (("phases", 0, "allowed_transitions", 1), "unknown transition target 'PHASE_X'") in lint(
        phase("PHASE_A", 0, ["PHASE_DONE", "PHASE_X"]), DONE)


def test_unreachable_phase():
    problems = lint(phase("PHASE_A", 0, ["PHASE_DONE"]), phase("PHASE_B", 1, ["PHASE_DONE"]), DONE)
    assert problems == [(("phases", 1, "id"), "phase 'PHASE_B' is unreachable from the initial phase 'PHASE_A'")]


def test_no_terminal_phase():
    assert lint(phase("PHASE_A", 0, ["PHASE_B"]), phase("PHASE_B", 1, ["PHASE_A"])) == [
        (("phases",), "no terminal phase: tickets could never finish")]


def test_cycle_without_an_exit():
    problems = lint(phase("PHASE_A", 0, ["PHASE_B", "PHASE_DONE"]), phase("PHASE_B", 1, ["PHASE_C"]),
                    phase("PHASE_C", 2, ["PHASE_B"]), DONE)
    assert [p for p, _ in problems] == [("phases", 1, "allowed_transitions"), ("phases", 2, "allowed_transitions")]


def test_duplicate_ids_reported_at_each_repeat():
    problems = lint(phase("PHASE_A", 0, ["PHASE_DONE"]), DONE, phase("PHASE_A", 1, ["PHASE_DONE"]))
    assert (("phases", 2, "id"), "duplicate phase id 'PHASE_A'") in problems


def test_terminal_phase_with_outgoing_transitions_except_blocked():
    problems = lint(phase("PHASE_A", 0, ["PHASE_DONE", "PHASE_BLOCKED"]),
                    phase("PHASE_DONE", 1, ["PHASE_A"], terminal=True),
                    phase("PHASE_BLOCKED", 2, ["PHASE_A"], terminal=True))
    assert problems == [(("phases", 1, "allowed_transitions"), "terminal phase 'PHASE_DONE' has outgoing transitions")]


def test_board_columns_unknown_phase_double_mapping_and_auto_target():
    columns = [BoardColumn("doing", "Doing", 0, ("PHASE_A", "PHASE_GONE"), auto_transition_to="PHASE_NOPE"),
               BoardColumn("doing", "Again", 1, ("PHASE_A",))]
    paths = {p for p, _ in lint(phase("PHASE_A", 0, ["PHASE_DONE"]), DONE, columns=columns)}
    assert paths == {("board_columns", 0, "phase_mapping", 1), ("board_columns", 0, "auto_transition_to"),
                     ("board_columns", 1, "id"), ("board_columns", 1, "phase_mapping", 0)}


def test_free_form_skips_reachability():
    assert lint(phase("PHASE_A", 0), phase("PHASE_B", 1), DONE, mode=WorkflowMode.FREE_FORM) == []


def test_linting_is_linear_in_the_number_of_phases():
    chain = [phase(f"PHASE_{i}", i, [f"PHASE_{i + 1}"]) for i in range(20_000)]
    chain.append(phase("PHASE_20000", 20_000, terminal=True))
    started = time.perf_counter()
    assert lint(*chain) == []
    assert time.perf_counter() - started < 5.0  # quadratic would take minutes
