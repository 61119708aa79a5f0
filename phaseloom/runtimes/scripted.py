"""The ``scripted`` runtime: deterministic built-in agents, so the whole product runs offline.

Per phase a scripted agent writes real outputs into its worktree (``requirements.md`` with the
sections the gate asks for, ``design.md``, a small package with passing tests, a test report
made by actually running those tests with the standard library's ``unittest`` (so the demo needs
nothing the plain install lacks), release notes), ticks the phase's done definitions and,
when its :class:`ScriptPlan` says so, reports a discovery or fails its first attempt. A
scripted validator rejects the first round of a review and approves the next. Everything goes
through the same services the MCP tools call; nothing in the engine knows these agents exist.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from phaseloom.db.engine import Database
from phaseloom.db.models import Task, Ticket
from phaseloom.runtimes.base import Assignment, RunOutcome
from phaseloom.db.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ScriptedDiscovery:
    """Report ``discovery_type`` while working in ``phase_id`` (on ``ticket_id``, or any ticket)."""

    phase_id: str
    discovery_type: str
    description: str
    spawn_phase_id: str | None = None
    ticket_id: int | None = None


@dataclass(frozen=True)
class ScriptPlan:
    """What the scripted agents do beyond the happy path."""

    # (ticket id or None for any ticket, phase id): the first attempt there fails (retryably).
    fail_first_attempt: frozenset[tuple[int | None, str]] = frozenset()
    discoveries: tuple[ScriptedDiscovery, ...] = ()
    # A scripted validator sends the first round of every review back with feedback.
    reject_first_review: bool = True
    # Tickets whose implementation has a bug its own unit test catches: their suite fails.
    failing_suite: frozenset[int] = frozenset()

    def fails(self, ticket_id: int, phase_id: str, attempt: int) -> bool:
        return attempt == 1 and ((ticket_id, phase_id) in self.fail_first_attempt
                                 or (None, phase_id) in self.fail_first_attempt)

    def discoveries_for(self, ticket_id: int, phase_id: str) -> list[ScriptedDiscovery]:
        return [d for d in self.discoveries if d.phase_id == phase_id and d.ticket_id in (None, ticket_id)]


@dataclass
class _Work:
    task: Task
    ticket: Ticket
    root: Path
    files: list[str] = field(default_factory=list)
    buggy: bool = False  # the implementation returns the wrong text (ScriptPlan.failing_suite)

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        self.files.append(relative)

    @property
    def package(self) -> str:
        return f"feature_{self.ticket.id}"


class ScriptedRuntime:
    name = "scripted"

    def __init__(self, db: Database, plan: ScriptPlan | None = None) -> None:
        self.db = db
        self.plan = plan or ScriptPlan()

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self.db)

    def run(self, assignment: Assignment) -> RunOutcome:
        from phaseloom.domain.reviews import VALIDATOR_TASK_TYPES

        with self._uow() as uow:
            task = uow.session.get(Task, assignment.task_id)
            ticket = uow.session.get(Ticket, task.ticket_id)
        if task.task_type in VALIDATOR_TASK_TYPES:
            return self._review(assignment)
        if self.plan.fails(ticket.id, task.phase_id, assignment.attempt):
            return RunOutcome(False, error="scripted agent crashed on its first attempt (planned)",
                              error_class="exit_code", exit_code=1, retryable=True)
        work = _Work(task, ticket, Path(assignment.workdir), buggy=ticket.id in self.plan.failing_suite)
        writer = PHASE_WRITERS.get(task.phase_id, _notes)
        summary = writer(work)
        self._tick_done_definitions(assignment, task)
        if task.task_type != "discovery":
            self._report_discoveries(assignment, ticket.id, task.phase_id)
        return RunOutcome(True, summary=summary, artifacts=work.files)

    def _tick_done_definitions(self, assignment: Assignment, task: Task) -> None:
        from phaseloom.services.gates import GateService
        from phaseloom.services.workflows import WorkflowService

        uow = self._uow()
        phase = WorkflowService(uow).by_id(task.workflow_id).phase(task.phase_id)
        gates = GateService(uow)
        for index, _text in enumerate(phase.done_definitions):
            gates.tick_done_definition(task.ticket_id, index, f"scripted agent did this in task {task.id}",
                                       by=f"agent:{assignment.agent_id}", phase_id=task.phase_id)

    def _report_discoveries(self, assignment: Assignment, ticket_id: int, phase_id: str) -> None:
        from phaseloom.services.discovery import DiscoveryService

        for found in self.plan.discoveries_for(ticket_id, phase_id):
            DiscoveryService(self._uow()).record_discovery(
                assignment.task_id, found.discovery_type, found.description, spawn_phase_id=found.spawn_phase_id,
                created_by=f"agent:{assignment.agent_id}")

    def _review(self, assignment: Assignment) -> RunOutcome:
        from phaseloom.db.models import ValidationReview
        from phaseloom.queue import ValidationService

        with self._uow() as uow:
            review = uow.session.scalar(select(ValidationReview)
                                        .where(ValidationReview.validator_task_id == assignment.task_id))
            iteration = review.iteration if review else 1
        passed = not (self.plan.reject_first_review and iteration == 1)
        feedback = "" if passed else "Scripted review: add a docstring to every public function, then resubmit."
        ValidationService(self._uow()).submit_review(assignment.task_id, assignment.agent_id, passed, feedback,
                                                     [f"scripted review round {iteration}"])
        verdict = "approved" if passed else "needs work"
        return RunOutcome(True, summary=f"review round {iteration}: {verdict}")


def _requirements(work: _Work) -> str:
    t = work.ticket
    work.write("requirements.md", f"""
        # Requirements: {t.title}

        ## Overview

        {t.description or t.title}. This document states what must be true when ticket #{t.id} is done,
        written by the scripted requirements analyst from the ticket text.

        ## Requirements

        - R1: `{work.package}.run()` returns a result for the feature "{t.title}".
        - R2: The behaviour is covered by automated tests.

        ## Acceptance Criteria

        - AC1 (R1): calling `run()` returns the string "{t.title}: ok".
        - AC2 (R2): the test suite passes (`python -m unittest discover -s tests`).
        """)
    return "wrote requirements.md with overview, requirements and acceptance criteria"


def _design(work: _Work) -> str:
    work.write("design.md", f"""
        # Design: {work.ticket.title}

        ## Components

        - `src/{work.package}/core.py`: the `run()` function named in the requirements.

        ## Interfaces

        - `run() -> str`, pure, no I/O; re-exported from `{work.package}`.

        ## Risks

        - Low: a single pure function. Alternative considered: a class; rejected as unneeded.
        """)
    return "wrote design.md with components, interfaces and risks"


def _implementation(work: _Work) -> str:
    pkg, title = work.package, work.ticket.title.replace('"', "'")
    returned = f"{title}: not yet" if work.buggy else f"{title}: ok"
    work.write(f"src/{pkg}/__init__.py", f'"""{title}."""\n\nfrom {pkg}.core import run\n\n__all__ = ["run"]\n')
    work.write(f"src/{pkg}/core.py", f'''
        def run() -> str:
            """Carry out the feature of ticket #{work.ticket.id}."""
            return "{returned}"
        ''')
    # unittest, not pytest: the demo must pass with a plain install (pytest collects these too).
    work.write(f"tests/test_{pkg}.py", f'''
        import sys
        import unittest
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

        from {pkg} import run


        class RunTest(unittest.TestCase):
            def test_run_returns_ok(self):
                self.assertEqual(run(), "{title}: ok")
        ''')
    if not (work.root / "pytest.ini").exists():
        work.write("pytest.ini", "[pytest]\ntestpaths = tests\n")
    return f"implemented {pkg}.run() with a unit test"


def unittest_counts(output: str, exit_code: int) -> tuple[int, int]:
    """``(passed, failed)`` from ``unittest``'s closing lines ("Ran 3 tests", "FAILED (failures=1, errors=1)")."""
    ran = re.search(r"^Ran (\d+) tests?", output, re.MULTILINE)
    failed = sum(int(n) for n in re.findall(r"(?:failures|errors)=(\d+)", output))
    total = int(ran.group(1)) if ran else 0
    if exit_code != 0 and failed == 0:
        failed = max(1, total)  # it could not even run (an import error before any test)
    return max(0, total - failed), failed


def _testing(work: _Work) -> str:
    proc = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", "tests"],
                          cwd=work.root, capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    passed, failed = unittest_counts(output, proc.returncode)
    verdict = "PASSED" if proc.returncode == 0 and passed > 0 else "FAILED"
    last = (output.strip().splitlines() or ["(no output)"])[-1]
    work.write("test_report.md", f"""
        # Test report: {work.ticket.title}

        Result: **{verdict}** (`python -m unittest discover -s tests` exit code {proc.returncode}).

        Counts: {passed} passed, {failed} failed. Last line of the output: {last}

        Every acceptance criterion in requirements.md has a test in tests/.
        """)
    return f"ran the suite: {verdict.lower()} ({passed} passed, {failed} failed)"


def _deployment(work: _Work) -> str:
    work.write("RELEASE_NOTES.md", f"""
        # Release notes

        - #{work.ticket.id} {work.ticket.title}: `{work.package}.run()` is available.
        """)
    return "wrote release notes"


def _notes(work: _Work) -> str:
    name = work.task.phase_id.lower().removeprefix("phase_")
    work.write(f"notes/{name}-task-{work.task.id}.md", f"# {work.task.title}\n\nDone by a scripted agent.\n")
    return f"wrote notes for {work.task.phase_id}"


PHASE_WRITERS: dict[str, Callable[[_Work], str]] = {
    "PHASE_REQUIREMENTS": _requirements,
    "PHASE_DESIGN": _design,
    "PHASE_IMPLEMENTATION": _implementation,
    "PHASE_TESTING": _testing,
    "PHASE_DEPLOYMENT": _deployment,
}
