"""End to end: ``phaseloom demo``'s path, asserted on the final state of the database and the repository."""

from __future__ import annotations

import os
import subprocess

import pytest
from sqlalchemy import select

from phaseloom.config import get_settings
from phaseloom.db.engine import Database
from phaseloom.db.models import Artifact, GateResult, PhaseHistory, Task, ValidationReview
from phaseloom.orchestrator.demo import run_demo
from phaseloom.db.unit_of_work import UnitOfWork

FULL_PATH = ["PHASE_BACKLOG", "PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION", "PHASE_TESTING",
             "PHASE_DEPLOYMENT", "PHASE_DONE"]
GATED = FULL_PATH[:-1]


@pytest.fixture
def without_pytest(tmp_path, monkeypatch):
    """The README's Quick start installs no test extra: a `pytest` that cannot be imported stands in
    for its absence, for every process the demo starts (they inherit PYTHONPATH)."""
    shadow = tmp_path / "no-pytest"
    (shadow / "pytest").mkdir(parents=True)
    (shadow / "pytest" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'pytest'\")\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow))


@pytest.mark.slow
def test_demo_runs_two_tickets_to_done(tmp_path, without_pytest):
    settings, environment = get_settings(), dict(os.environ)
    summary = run_demo(tmp_path / "demo", max_seconds=150)
    # Keyword-only memory is passed down to the demo's orchestrator, not set process-wide.
    assert get_settings() is settings and dict(os.environ) == environment

    assert summary.all_done, summary.tickets
    assert summary.seconds < 150
    assert [t["path"] for t in summary.tickets] == [FULL_PATH, FULL_PATH]
    # Each gated phase of each ticket counts once, however often its gate was evaluated: the same on every run.
    assert summary.gates_passed == 2 * len(GATED)
    db = Database.connect(summary.database_url)
    try:
        with UnitOfWork(db, readonly=True) as uow:
            s = uow.session
            for ticket in summary.tickets:
                passed = set(s.scalars(select(GateResult.phase_id).where(GateResult.ticket_id == ticket["id"],
                                                                         GateResult.passed.is_(True))))
                assert passed >= set(GATED), f"ticket {ticket['id']} gates passed: {passed}"
                history = s.scalars(select(PhaseHistory).where(PhaseHistory.ticket_id == ticket["id"])).all()
                assert all(h.initiated_by for h in history) and len(history) == len(FULL_PATH)
            tasks = s.scalars(select(Task)).all()
            assert {t.status for t in tasks} == {"completed"}
            assert any(t.retry_count == 1 and t.phase_id == "PHASE_DESIGN" for t in tasks)  # the retried failure
            assert any(t.task_type == "discovery" for t in tasks)  # the discovery branch
            reviews = s.scalars(select(ValidationReview).order_by(ValidationReview.id)).all()
            by_task: dict[int, list[str]] = {}
            for r in reviews:
                by_task.setdefault(r.task_id, []).append(r.state)
            assert ["needs_work", "approved"] in by_task.values()
            artifact_paths = set(s.scalars(select(Artifact.path)))
            assert {"requirements.md", "design.md", "test_report.md"} <= artifact_paths
    finally:
        db.dispose()

    repo = summary.repo
    for ticket in summary.tickets:
        files = subprocess.run(["git", "ls-tree", "-r", "--name-only", f"ticket/{ticket['id']}"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.split()
        for expected in ("requirements.md", "design.md", f"src/feature_{ticket['id']}/core.py", "test_report.md",
                         "RELEASE_NOTES.md"):
            assert expected in files, (ticket["id"], expected, files)
        report = subprocess.run(["git", "show", f"ticket/{ticket['id']}:test_report.md"], cwd=repo,
                                capture_output=True, text=True, check=True).stdout
        assert "**PASSED**" in report
    branches = subprocess.run(["git", "branch", "--format=%(refname:short)"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.split()
    for branch in (b for b in branches if b.startswith("phase-")):
        ticket_branches = [f"ticket/{t['id']}" for t in summary.tickets]
        merged = [tb for tb in ticket_branches if subprocess.run(
            ["git", "merge-base", "--is-ancestor", branch, tb], cwd=repo).returncode == 0]
        assert merged, f"{branch} was never merged into a ticket branch"


@pytest.mark.slow
def test_a_failing_suite_keeps_its_ticket_out_of_done(tmp_path, without_pytest):
    summary = run_demo(tmp_path / "demo", max_seconds=150, failing_suite=True)
    first, second = summary.tickets
    assert first["phase"] == "PHASE_DONE" and first["path"] == FULL_PATH
    # The second ticket's suite fails: its report says so and the testing gate holds it there.
    assert second["phase"] == "PHASE_TESTING" and "PHASE_DEPLOYMENT" not in second["path"]
    assert not summary.all_done
    verdict = "the suite passed (a 'Result: PASSED' line)"  # the shipped criterion's description
    assert any(r.startswith("test_report.md does not contain") and r.endswith(verdict)
               for r in summary.held[second["id"]]), summary.held
    # The demo stopped because nothing could move, not because its time ran out.
    assert summary.seconds < 60
    db = Database.connect(summary.database_url)
    try:
        with UnitOfWork(db, readonly=True) as uow:
            report = uow.session.scalars(select(Artifact.content).where(
                Artifact.ticket_id == second["id"], Artifact.path == "test_report.md")).first()
    finally:
        db.dispose()
    assert report is not None and "Result: **FAILED**" in report and "0 passed, 1 failed" in report
