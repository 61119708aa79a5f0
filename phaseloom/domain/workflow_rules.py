"""Lint rules for a workflow: each problem is a field path and a plain-words message.

Paths are tuples such as ``("phases", 2, "allowed_transitions", 0)`` so a loader can map
them back to the line of the file they came from.
"""

from __future__ import annotations

from collections import Counter

from phaseloom.domain.phases import Workflow, WorkflowMode

FieldPath = tuple[str | int, ...]


def lint_workflow(workflow: Workflow) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = []
    ids = [p.id for p in workflow.phases]
    known = set(ids)
    for phase_id, count in Counter(ids).items():
        if count > 1:
            index = max(i for i, pid in enumerate(ids) if pid == phase_id)
            problems.append((("phases", index, "id"), f"duplicate phase id {phase_id!r}"))

    for i, phase in enumerate(workflow.phases):
        for j, target in enumerate(phase.allowed_transitions):
            if target not in known:
                problems.append(
                    (("phases", i, "allowed_transitions", j), f"unknown transition target {target!r}")
                )
        if phase.is_terminal and phase.allowed_transitions and phase.id != "PHASE_BLOCKED":
            problems.append(
                (("phases", i, "allowed_transitions"), f"terminal phase {phase.id!r} has outgoing transitions")
            )

    if not any(p.is_terminal for p in workflow.phases):
        problems.append((("phases",), "no terminal phase: tickets could never finish"))

    if workflow.mode is WorkflowMode.STRUCTURED and workflow.phases:
        problems.extend(_unreachable(workflow, known))
        problems.extend(_dead_ends(workflow, known))

    column_ids = [c.id for c in workflow.board_columns]
    mapped: dict[str, str] = {}
    for i, column in enumerate(workflow.board_columns):
        if column_ids.count(column.id) > 1 and column_ids.index(column.id) != i:
            problems.append((("board_columns", i, "id"), f"duplicate board column id {column.id!r}"))
        for j, phase_id in enumerate(column.phase_mapping):
            if phase_id not in known:
                problems.append(
                    (("board_columns", i, "phase_mapping", j), f"board column maps unknown phase {phase_id!r}")
                )
            elif phase_id in mapped:
                problems.append(
                    (("board_columns", i, "phase_mapping", j),
                     f"phase {phase_id!r} is already mapped to column {mapped[phase_id]!r}")
                )
            else:
                mapped[phase_id] = column.id
        if column.auto_transition_to and column.auto_transition_to not in known:
            problems.append(
                (("board_columns", i, "auto_transition_to"), f"unknown phase {column.auto_transition_to!r}")
            )
    return problems


def _unreachable(workflow: Workflow, known: set[str]) -> list[tuple[FieldPath, str]]:
    start = workflow.initial_phase.id
    seen = {start}
    frontier = [start]
    by_id = {p.id: p for p in workflow.phases}
    while frontier:
        current = by_id[frontier.pop()]
        for target in current.allowed_transitions:
            if target in known and target not in seen:
                seen.add(target)
                frontier.append(target)
    return [
        (("phases", i, "id"), f"phase {p.id!r} is unreachable from the initial phase {start!r}")
        for i, p in enumerate(workflow.phases)
        if p.id not in seen
    ]


def _dead_ends(workflow: Workflow, known: set[str]) -> list[tuple[FieldPath, str]]:
    """Phases from which no terminal phase can be reached (cycles without an exit)."""
    by_id = {p.id: p for p in workflow.phases}
    can_finish = {p.id for p in workflow.phases if p.is_terminal}
    changed = True
    while changed:
        changed = False
        for phase in workflow.phases:
            if phase.id not in can_finish and any(t in can_finish for t in phase.allowed_transitions):
                can_finish.add(phase.id)
                changed = True
    return [
        (("phases", i, "allowed_transitions"), f"no terminal phase can be reached from {p.id!r}")
        for i, p in enumerate(workflow.phases)
        if p.id not in can_finish and by_id[p.id] is p
    ]
