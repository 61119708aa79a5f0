"""Lint rules for a workflow: each problem is a field path and a plain-words message.

Paths are tuples such as ``("phases", 2, "allowed_transitions", 0)`` so a loader can map
them back to the line of the file they came from.
"""

from __future__ import annotations

from collections import defaultdict

from phaseloom.domain.phases import BLOCKED_PHASE, Workflow, WorkflowMode

FieldPath = tuple[str | int, ...]


def dotted(path: FieldPath) -> str:
    """A field path as people read it: ``("phases", 2, "id")`` → ``phases[2].id``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def lint_workflow(workflow: Workflow) -> list[tuple[FieldPath, str]]:
    """Every problem with ``workflow``, in document order. Linear in the size of the workflow."""
    problems = _transition_problems(workflow)
    if not any(p.is_terminal for p in workflow.phases):
        problems.append((("phases",), "no terminal phase: tickets could never finish"))
    elif workflow.mode is WorkflowMode.STRUCTURED:
        problems.extend(_unreachable(workflow, {p.id for p in workflow.phases}))
        problems.extend(_dead_ends(workflow))
    problems.extend(_column_problems(workflow, {p.id for p in workflow.phases}))
    return problems


def reference_problems(workflow: Workflow) -> list[tuple[FieldPath, str]]:
    """The checks that hold even for a document the schema refused: duplicate ids, transition
    targets, board column references and, in a structured workflow, unreachable phases.

    Loaders run them on a best-effort reading of a refused document, so an undefined target is
    named in the same pass as the schema's complaints.
    """
    known = {p.id for p in workflow.phases}
    problems = _transition_problems(workflow, check_terminals=False)
    if workflow.phases and workflow.mode is WorkflowMode.STRUCTURED:
        problems.extend(_unreachable(workflow, known))
    problems.extend(_column_problems(workflow, known))
    return problems


def _transition_problems(workflow: Workflow, check_terminals: bool = True) -> list[tuple[FieldPath, str]]:
    known = {p.id for p in workflow.phases}
    problems = _duplicates([p.id for p in workflow.phases], "phases", "phase id")
    for i, phase in enumerate(workflow.phases):
        for j, target in enumerate(phase.allowed_transitions):
            if target not in known:
                problems.append(
                    (("phases", i, "allowed_transitions", j), f"unknown transition target {target!r}")
                )
        if check_terminals and phase.is_terminal and phase.allowed_transitions and phase.id != BLOCKED_PHASE:
            problems.append(
                (("phases", i, "allowed_transitions"), f"terminal phase {phase.id!r} has outgoing transitions")
            )
    return problems


def _duplicates(ids: list[str], collection: str, what: str) -> list[tuple[FieldPath, str]]:
    """Each repeat of an id after its first use."""
    seen: set[str] = set()
    problems: list[tuple[FieldPath, str]] = []
    for i, ident in enumerate(ids):
        if ident in seen:
            problems.append(((collection, i, "id"), f"duplicate {what} {ident!r}"))
        seen.add(ident)
    return problems


def _column_problems(workflow: Workflow, known: set[str]) -> list[tuple[FieldPath, str]]:
    problems = _duplicates([c.id for c in workflow.board_columns], "board_columns", "board column id")
    mapped: dict[str, str] = {}
    for i, column in enumerate(workflow.board_columns):
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
                (("board_columns", i, "auto_transition_to"), f"unknown phase or board column {column.auto_transition_to!r}")
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
    reported: set[str] = set()
    problems = []
    for i, p in enumerate(workflow.phases):
        if p.id not in seen and p.id not in reported:
            reported.add(p.id)
            problems.append((("phases", i, "id"), f"phase {p.id!r} is unreachable from the initial phase {start!r}"))
    return problems


def _dead_ends(workflow: Workflow) -> list[tuple[FieldPath, str]]:
    """Phases from which no terminal phase can be reached (cycles without an exit)."""
    comes_from: dict[str, list[str]] = defaultdict(list)
    for phase in workflow.phases:
        for target in phase.allowed_transitions:
            comes_from[target].append(phase.id)
    can_finish = {p.id for p in workflow.phases if p.is_terminal}
    frontier = list(can_finish)
    while frontier:
        for source in comes_from[frontier.pop()]:
            if source not in can_finish:
                can_finish.add(source)
                frontier.append(source)
    reported: set[str] = set()
    problems = []
    for i, p in enumerate(workflow.phases):
        if p.id not in can_finish and p.id not in reported:
            reported.add(p.id)
            problems.append((("phases", i, "allowed_transitions"), f"no terminal phase can be reached from {p.id!r}"))
    return problems
