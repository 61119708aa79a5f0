"""``phaseloom demo``: the whole product on a throw-away repository, offline, in seconds.

It creates a git repository and a SQLite database in a fresh folder, loads the shipped
``software_development`` workflow (with review turned on for implementation and short retry
backoffs, so the demo is quick), creates two tickets and runs scripted agents through every
phase to DONE. The plan makes one first attempt fail (and be retried), one discovery spawn work
in another phase, and every first review come back "needs work" before it is approved.

With ``failing_suite`` the second ticket's implementation has a bug its unit test catches: the test
report says FAILED, the testing gate holds the ticket in Testing, and the demo stops once nothing
can move any more (it does not wait out ``max_seconds``).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from phaseloom.db.engine import Database
from phaseloom.db.migrate import upgrade
from phaseloom.db.models import PhaseHistory, SystemEvent, Task, Ticket
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
from phaseloom.orchestrator.runtimes import runtime_factory
from phaseloom.runtimes.scripted import ScriptedDiscovery, ScriptPlan
from phaseloom.db.unit_of_work import UnitOfWork

TICKETS = (
    ("Greeting endpoint", "Return a friendly greeting for a name.", "HIGH"),
    ("Farewell endpoint", "Return a polite farewell for a name.", "MEDIUM"),
)
REVIEWED_PHASE = "PHASE_IMPLEMENTATION"


@dataclass
class DemoSummary:
    folder: Path
    database_url: str
    repo: Path
    seconds: float
    tickets: list[dict] = field(default_factory=list)
    tasks: dict[str, int] = field(default_factory=dict)
    task_types: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    merges: int = 0
    gates_passed: int = 0
    discoveries: int = 0
    reviews: dict[str, int] = field(default_factory=dict)
    artifacts: int = 0
    # Ticket id -> the reasons its current phase's gate gave, for tickets that stopped short of DONE.
    held: dict[int, list[str]] = field(default_factory=dict)

    @property
    def all_done(self) -> bool:
        return bool(self.tickets) and all(t["phase"] == "PHASE_DONE" for t in self.tickets)


def make_repository(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "phaseloom demo", "GIT_AUTHOR_EMAIL": "demo@phaseloom.invalid",
           "GIT_COMMITTER_NAME": "phaseloom demo", "GIT_COMMITTER_EMAIL": "demo@phaseloom.invalid"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    (path / "README.md").write_text("# demo app\n\nBuilt by phaseloom's scripted agents.\n")
    (path / ".gitignore").write_text("__pycache__/\n*.pyc\n.pytest_cache/\n")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "Initial commit"], cwd=path, check=True, env=env)
    return path


def demo_workflow():
    """The shipped workflow with review on for implementation and second-scale retry backoffs."""
    from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
    from phaseloom.schemas.workflow import WorkflowDocument

    data = load_workflow_source(shipped_workflow("software_development")).model_dump(mode="json")
    for phase in data["phases"]:
        config = phase.setdefault("configuration", {})
        config["retry_backoff"] = {"base_seconds": 0.2, "cap_seconds": 1.0}
        if phase["id"] == REVIEWED_PHASE:
            config.update(requires_review=True, max_review_iterations=3)
    return WorkflowDocument.model_validate(data)


def demo_plan(first_ticket: int, second_ticket: int, *, failing_suite: bool = False) -> ScriptPlan:
    return ScriptPlan(
        failing_suite=frozenset({second_ticket}) if failing_suite else frozenset(),
        fail_first_attempt=frozenset({(first_ticket, "PHASE_DESIGN")}),
        discoveries=(ScriptedDiscovery(
            "PHASE_TESTING", "optimization_opportunity",
            "The farewell text is built on every call; it could be a constant.",
            spawn_phase_id="PHASE_IMPLEMENTATION", ticket_id=second_ticket),),
        reject_first_review=True)


def run_demo(folder: Path, *, max_seconds: float = 120.0, on_tick=None, failing_suite: bool = False) -> DemoSummary:
    """Run the demo in ``folder`` (created if needed) and return what happened.

    The agents' instructions preload memories found by words only (``memory_semantic=False``), so
    the demo never waits for the embedding model to load; ``phaseloom memory search`` embeds them
    afterwards.
    """
    from phaseloom.services.progress import ProgressService
    from phaseloom.services.projects import ProjectService
    from phaseloom.services.tickets import TicketService
    from phaseloom.services.workflows import WorkflowService

    started = time.monotonic()
    folder = Path(folder).resolve()
    repo = make_repository(folder / "repo")
    url = f"sqlite:///{folder / 'phaseloom.db'}"
    from phaseloom.services.review_outcomes import wire_review_outcomes

    db = wire_review_outcomes(Database.connect(url))
    upgrade(db.engine)
    WorkflowService(UnitOfWork(db)).save_document(demo_workflow(), source="demo")
    project = ProjectService(UnitOfWork(db)).create_project("demo", "software_development", repo_path=str(repo))
    ids = []
    for title, description, priority in TICKETS:
        ticket = TicketService(UnitOfWork(db)).create_ticket(project.id, title, description=description,
                                                             priority=priority, initiated_by="demo")
        ProgressService(UnitOfWork(db)).start_ticket(ticket.id, created_by="demo")
        ids.append(ticket.id)
    config = OrchestratorConfig(
        pools=(PoolSpec("worker", size=2), PoolSpec("validator", size=1, agent_type="validator",
                                                     capabilities=("validation",))),
        project_id=project.id, poll_seconds=0.05, workspace_root=folder / "workspaces", log_dir=folder / "logs",
        grace_seconds=10, memory_semantic=False)
    orchestrator = Orchestrator(db, runtime_factory(db, plan=demo_plan(*ids, failing_suite=failing_suite)), config)

    def finished() -> bool:
        if on_tick:
            on_tick(orchestrator)
        return _finished(db, project.id)

    orchestrator.run(until=finished, max_seconds=max_seconds)
    summary = summarise(db, folder, url, repo, time.monotonic() - started)
    db.dispose()
    return summary


def _finished(db: Database, project_id: int) -> bool:
    """Nothing left to run, and every ticket is done or held by a gate that failed after its last task."""
    with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        open_tasks = s.scalar(select(func.count()).select_from(Task).where(
            Task.project_id == project_id, Task.status.in_(["pending", "claimed", "running", "under_review"])))
        if open_tasks:
            return False
        open_tickets = s.scalars(select(Ticket).where(Ticket.project_id == project_id,
                                                      Ticket.completed_at.is_(None))).all()
        return all(_held_by_gate(s, ticket) is not None for ticket in open_tickets)


def _held_by_gate(session, ticket: Ticket) -> list[str] | None:
    """The blocking reasons of the ticket's latest gate result, if it failed after the phase's last task ended.

    Only tasks of the current phase count, as for the orchestrator (``TicketMover``): work a discovery
    spawned in another phase does not make it check this gate again.
    """
    from phaseloom.db.models import GateResult

    latest = session.scalars(select(GateResult).where(GateResult.ticket_id == ticket.id,
                                                      GateResult.phase_id == ticket.phase_id)
                             .order_by(GateResult.id.desc()).limit(1)).first()
    if latest is None or latest.passed:
        return None
    last_task_end = session.scalar(select(func.max(Task.completed_at)).where(Task.ticket_id == ticket.id,
                                                                             Task.phase_id == ticket.phase_id))
    if last_task_end is not None and latest.created_at < last_task_end:
        return None  # checked before the last task's work came in: the orchestrator will check again
    return list(latest.blocking_reasons)


def summarise(db: Database, folder: Path, url: str, repo: Path, seconds: float) -> DemoSummary:
    from phaseloom.db import models

    summary = DemoSummary(folder=folder, database_url=url, repo=repo, seconds=seconds)
    with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        for ticket in s.scalars(select(Ticket).order_by(Ticket.id)):
            moves = s.scalars(select(PhaseHistory.to_phase_id).where(PhaseHistory.ticket_id == ticket.id)
                              .order_by(PhaseHistory.id)).all()
            summary.tickets.append({"id": ticket.id, "title": ticket.title, "phase": ticket.phase_id,
                                    "path": list(moves)})
            if ticket.completed_at is None:
                summary.held[ticket.id] = _held_by_gate(s, ticket) or []
        tasks = s.scalars(select(Task)).all()
        summary.tasks = dict(Counter(t.status for t in tasks))
        summary.task_types = dict(Counter(t.task_type for t in tasks))
        summary.retries = sum(t.retry_count for t in tasks)
        events = Counter(s.scalars(select(SystemEvent.event_type)).all())
        summary.merges = events.get("workspace.merged", 0)
        summary.discoveries = events.get("discovery.recorded", 0)
        # Phases whose gate passed, per ticket: a gate is re-evaluated on every orchestrator round
        # until it passes and may be stored passing more than once, so counting results varied per run.
        passed_gates = (select(models.GateResult.ticket_id, models.GateResult.phase_id)
                        .where(models.GateResult.passed.is_(True)).distinct().subquery())
        summary.gates_passed = s.scalar(select(func.count()).select_from(passed_gates)) or 0
        summary.reviews = dict(Counter(s.scalars(select(models.ValidationReview.state)).all()))
        summary.artifacts = s.scalar(select(func.count()).select_from(models.Artifact)) or 0
    return summary
