"""Gate evaluation: does a phase meet its declared gate, given what we found?

Everything here is pure. The service gathers the inputs — the workspace file listing, the text
of the files the gate looks at, the results of the commands the gate declares, the phase's
tasks, ticked done-definitions and recorded approvals — and this module turns them into one
outcome per criterion, each with a reason in plain words.

The gate itself is a :class:`phaseloom.domain.gate_definition.Gate`, built once when the workflow loads.

Criterion keys (``"criteria[2]"``, ``"artifacts[0]"``, ``"artifacts[0].criteria[1]"``) name the
place in the gate the outcome belongs to; approvals are recorded against the same keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from phaseloom.domain.gate_definition import ArtifactCriterion, Gate, GateArtifact, GateCriterion

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_PERCENT = r"(\d+(?:\.\d+)?)\s*%"
_COUNT = re.compile(r"(\d+)\s+(passed|failed|errors?)\b")


@dataclass(frozen=True)
class CommandRun:
    """What happened when a declared command ran in the workspace."""

    argv: tuple[str, ...]
    exit_code: int | None
    output: str = ""
    timed_out: bool = False
    error: str = ""  # could not start at all (no such program, no workspace)


@dataclass(frozen=True)
class TaskState:
    id: int
    title: str
    status: str


@dataclass(frozen=True)
class GateInputs:
    files: frozenset[str] = frozenset()  # relative POSIX paths present (workspace and stored artifacts)
    texts: Mapping[str, str] = field(default_factory=dict)  # path -> text, for the files a gate reads
    commands: Mapping[tuple[str, ...], CommandRun] = field(default_factory=dict)
    tasks: tuple[TaskState, ...] = ()
    done_definitions: tuple[tuple[str, bool], ...] = ()  # (text, ticked)
    approvals: frozenset[str] = frozenset()  # criterion keys with a recorded approval
    validation_blockers: tuple[str, ...] = ()  # reasons review is not finished; empty when approved


@dataclass(frozen=True)
class CriterionOutcome:
    key: str
    type: str
    passed: bool
    reason: str
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "type": self.type, "passed": self.passed, "reason": self.reason,
                "description": self.description}


@dataclass(frozen=True)
class GateEvaluation:
    outcomes: tuple[CriterionOutcome, ...]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def blocking_reasons(self) -> list[str]:
        return [o.reason for o in self.outcomes if not o.passed]


# -- globbing ---------------------------------------------------------------------
@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay inside one folder; ``**/`` spans any number of folders (even none)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matching(pattern: str, files: frozenset[str] | set[str]) -> list[str]:
    regex = glob_regex(pattern.removeprefix("./"))
    return sorted(f for f in files if regex.match(f))


def text_patterns(gate: Gate) -> list[str]:
    """Globs whose files the evaluation reads; the service loads their text."""
    patterns = [a.pattern for a in gate.artifacts if a.criteria]
    patterns += [c.target for c in gate.criteria
                 if c.target and c.type in ("file_contains", "min_percentage", "performance_metric")]
    return patterns


def declared_commands(gate: Gate) -> list[tuple[tuple[str, ...], float]]:
    """The only commands a gate may run: (argv, timeout) as written in the workflow."""
    return [(tuple(c.command or ()), c.timeout_seconds) for c in gate.criteria
            if c.type in ("command_success", "test_pass")]


# -- evaluation -------------------------------------------------------------------
def evaluate_gate(gate: Gate, inputs: GateInputs) -> GateEvaluation:
    outcomes: list[CriterionOutcome] = []
    if gate.require_tasks_completed:
        outcomes.append(_tasks_outcome(inputs.tasks))
    if gate.require_validation:
        blockers = inputs.validation_blockers
        outcomes.append(CriterionOutcome("validation", "require_validation", not blockers,
                                         "; ".join(blockers) if blockers else "the phase's work is approved"))
    if gate.require_done_definitions:
        outcomes.append(_done_definitions_outcome(inputs.done_definitions))
    for i, artifact in enumerate(gate.artifacts):
        outcomes.extend(_artifact_outcomes(f"artifacts[{i}]", artifact, inputs))
    for i, criterion in enumerate(gate.criteria):
        outcome = _criterion_outcome(f"criteria[{i}]", criterion, inputs)
        outcomes.append(outcome)
    return GateEvaluation(tuple(outcomes))


def _tasks_outcome(tasks: tuple[TaskState, ...]) -> CriterionOutcome:
    counted = [t for t in tasks if t.status != "cancelled"]
    unfinished = [t for t in counted if t.status != "completed"]
    if not counted:
        return CriterionOutcome("tasks", "require_tasks_completed", False, "no task in this phase has completed yet")
    if unfinished:
        listed = ", ".join(f"task {t.id} {t.title!r} is {t.status}" for t in unfinished[:5])
        more = f" (and {len(unfinished) - 5} more)" if len(unfinished) > 5 else ""
        return CriterionOutcome("tasks", "require_tasks_completed", False, listed + more)
    return CriterionOutcome("tasks", "require_tasks_completed", True, f"all {len(counted)} task(s) completed")


def _done_definitions_outcome(items: tuple[tuple[str, bool], ...]) -> CriterionOutcome:
    open_items = [text for text, ticked in items if not ticked]
    if open_items:
        quoted = "; ".join(repr(t) for t in open_items)
        return CriterionOutcome("done_definitions", "require_done_definitions", False,
                                f"done definition(s) not ticked: {quoted}")
    return CriterionOutcome("done_definitions", "require_done_definitions", True,
                            f"all {len(items)} done definition(s) ticked")


def _artifact_outcomes(key: str, artifact: GateArtifact, inputs: GateInputs) -> list[CriterionOutcome]:
    found = matching(artifact.pattern, inputs.files)
    if not found:
        if artifact.required:
            return [CriterionOutcome(key, "artifact", False,
                                     f"required {artifact.type} {artifact.pattern} was not found")]
        return [CriterionOutcome(key, "artifact", True, f"optional {artifact.type} {artifact.pattern} not present")]
    outcomes = [CriterionOutcome(key, "artifact", True, f"found {', '.join(found[:5])}")]
    for j, criterion in enumerate(artifact.criteria):
        failures = [r for path in found if (r := _artifact_check(criterion, path, inputs.texts.get(path)))]
        reason = "; ".join(failures) if failures else f"{criterion.type} met by {', '.join(found[:5])}"
        outcomes.append(CriterionOutcome(f"{key}.criteria[{j}]", criterion.type, not failures, reason,
                                         criterion.description))
    return outcomes


def _artifact_check(criterion: ArtifactCriterion, path: str, text: str | None) -> str | None:
    """None when ``path`` meets the criterion, else why not."""
    if text is None:
        return f"{path} could not be read as text"
    if criterion.type == "min_length":
        length, needed = len(text.strip()), int(criterion.value or 0)
        return None if length >= needed else f"{path} is {length} characters long; at least {needed} are required"
    if criterion.type == "required_sections":
        missing = missing_sections(text, criterion.sections)
        return None if not missing else f"{path} is missing the section(s) {', '.join(missing)}"
    if criterion.type == "file_contains":
        found = re.search(criterion.pattern or "", text, re.MULTILINE)
        if found:
            return None
        # A regular expression says little to a person: the criterion's description says what is missing.
        what = f": {criterion.description}" if criterion.description else ""
        return f"{path} does not contain /{criterion.pattern}/{what}"
    return _percentage_check(path, text, None, float(criterion.value or 0))


def missing_sections(text: str, sections: Sequence[str]) -> list[str]:
    """Sections (Markdown headings, compared case-insensitively) that ``text`` lacks."""
    headings = {_normalise(h) for h in _HEADING.findall(text)}
    return [s for s in sections if _normalise(s) not in headings]


def _normalise(heading: str) -> str:
    return " ".join(heading.strip().strip(":").split()).casefold()


def _percentage_check(path: str, text: str, pattern: str | None, minimum: float) -> str | None:
    matches = re.findall(pattern or _PERCENT, text, re.MULTILINE)
    if not matches:
        return f"{path} shows no percentage"
    try:
        value = float(matches[-1] if isinstance(matches[-1], str) else matches[-1][0])
    except ValueError:
        return f"{path}: {matches[-1]!r} is not a number"
    return None if value >= minimum else f"{path} shows {value:g}%; at least {minimum:g}% is required"


def _criterion_outcome(key: str, c: GateCriterion, inputs: GateInputs) -> CriterionOutcome:
    passed, reason = _CHECKS[c.type](key, c, inputs)
    return CriterionOutcome(key, c.type, passed, reason, c.description)


def _file_exists(key: str, c: GateCriterion, inputs: GateInputs) -> tuple[bool, str]:
    found = matching(c.target or "", inputs.files)
    return (True, f"found {', '.join(found[:5])}") if found else (False, f"no file matches {c.target}")


def _file_contains(key: str, c: GateCriterion, inputs: GateInputs) -> tuple[bool, str]:
    found = matching(c.target or "", inputs.files)
    if not found:
        return False, f"no file matches {c.target}"
    for path in found:
        text = inputs.texts.get(path)
        if text is not None and re.search(c.pattern or "", text, re.MULTILINE):
            return True, f"{path} contains /{c.pattern}/"
    return False, f"{', '.join(found[:5])} do(es) not contain /{c.pattern}/"


def _min_percentage(key: str, c: GateCriterion, inputs: GateInputs) -> tuple[bool, str]:
    found = matching(c.target or "", inputs.files)
    if not found:
        return False, f"no file matches {c.target}"
    path = found[0]
    problem = _percentage_check(path, inputs.texts.get(path) or "", c.pattern, float(c.value or 0))
    return (problem is None), problem or f"{path} meets {c.value:g}%"


def _command_success(key: str, c: GateCriterion, inputs: GateInputs) -> tuple[bool, str]:
    run, shown = inputs.commands.get(tuple(c.command or ())), " ".join(c.command or ())
    if run is None:
        return False, f"`{shown}` was not run"
    if run.error:
        return False, f"`{shown}` could not run: {run.error}"
    if run.timed_out:
        return False, f"`{shown}` did not finish within {c.timeout_seconds:g} seconds"
    if run.exit_code != 0:
        return False, f"`{shown}` exited with code {run.exit_code}{_tail(run.output)}"
    return True, f"`{shown}` exited with code 0"


def parse_test_counts(output: str) -> dict[str, int] | None:
    """``{"passed": n, "failed": m, "errors": k}`` from pytest-style summaries, or None if absent."""
    counts = {"passed": 0, "failed": 0, "errors": 0}
    seen = False
    for number, word in _COUNT.findall(output):
        seen = True
        counts["errors" if word.startswith("error") else word] += int(number)
    return counts if seen else None


def _test_pass(key: str, c: GateCriterion, inputs: GateInputs) -> tuple[bool, str]:
    ran, reason = _command_success(key, c, inputs)
    run = inputs.commands.get(tuple(c.command or ()))
    if run is None or run.error or run.timed_out:
        return False, reason
    counts = parse_test_counts(run.output)
    if counts is None:
        return False, f"found no 'N passed' / 'M failed' counts in the output of `{' '.join(c.command or ())}`"
    summary = f"{counts['passed']} passed, {counts['failed']} failed, {counts['errors']} errors"
    minimum = int(c.value or 1)
    if counts["failed"] or counts["errors"]:
        return False, f"tests failed: {summary}"
    if counts["passed"] < minimum:
        return False, f"only {counts['passed']} test(s) passed; at least {minimum} required"
    if not ran:
        return False, f"{summary}, but {reason}"
    return True, summary


def _approval(key: str, c: GateCriterion, inputs: GateInputs) -> tuple[bool, str]:
    what = c.description or c.type.replace("_", " ")
    if key in inputs.approvals:
        return True, f"approved: {what}"
    return False, f"needs a recorded approval ({c.type}): {what}"


def _performance_metric(key: str, c: GateCriterion, inputs: GateInputs) -> tuple[bool, str]:
    if c.needs_approval:
        return _approval(key, c, inputs)
    found = matching(c.target or "", inputs.files)
    if not found:
        return False, f"no file matches {c.target}"
    text = inputs.texts.get(found[0]) or ""
    match = re.search(c.pattern or "", text, re.MULTILINE)
    if not match:
        return False, f"{found[0]} does not contain /{c.pattern}/"
    try:
        measured = float(match.group(1) if match.groups() else match.group(0))
    except ValueError:
        return False, f"{found[0]}: {match.group(0)!r} is not a number"
    limit = float(c.value or 0)
    ok = measured <= limit if c.comparison == "at_most" else measured >= limit
    bound = "at most" if c.comparison == "at_most" else "at least"
    return ok, f"measured {measured:g} in {found[0]}; must be {bound} {limit:g}"


def _tail(output: str, lines: int = 3) -> str:
    tail = [line for line in output.strip().splitlines() if line.strip()][-lines:]
    return (": " + " | ".join(tail))[:400] if tail else ""


_CHECKS = {
    "file_exists": _file_exists,
    "file_contains": _file_contains,
    "min_percentage": _min_percentage,
    "command_success": _command_success,
    "test_pass": _test_pass,
    "manual_verification": _approval,
    "code_review": _approval,
    "performance_metric": _performance_metric,
}
