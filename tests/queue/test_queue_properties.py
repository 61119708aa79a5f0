"""The claim picks exactly what a plain reference implementation picks (property test, both backends).

Each example builds a small queue through the services (tickets with blockers, tasks with
capabilities and dependencies, some completed), pins each task's age and due time, then claims
until the queue is dry. Every claim must be the task the reference below picks from the example's
own description of the queue, never from the database's maintained counters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from phaseloom.db.models import Task
from phaseloom.db.models.base import utcnow
from phaseloom.domain.priorities import Priority, claim_score
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from tests.queue.test_queue_concurrency import seed_tasks

PHASES = ["PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION"]
CAPABILITIES = ["python", "docs", "sql"]
AGING = 600.0


@dataclass
class TaskSpec:
    priority: Priority
    age_seconds: int
    phase: str
    capabilities: frozenset[str]
    status: str
    due: bool
    depends_on: frozenset[int]  # indexes of earlier tasks
    ticket: int
    id: int = 0


@dataclass
class QueueSpec:
    tasks: list[TaskSpec]
    blocked_tickets: frozenset[int]  # tickets 1 and 2 may be blocked by ticket 0
    agent_phase: str | None
    agent_capabilities: frozenset[str]
    ids: dict[int, int] = field(default_factory=dict)


# Ages cluster on a few values so exact ties (same priority, same age) and ageing overtakes
# (a LOW task 1200 s older than a HIGH one) both come up often.
ages = st.one_of(st.sampled_from([0, 600, 1200]), st.integers(min_value=0, max_value=7200))
capability_sets = st.frozensets(st.sampled_from(CAPABILITIES), max_size=2)


@st.composite
def queue_specs(draw) -> QueueSpec:
    size = draw(st.integers(min_value=1, max_value=10))
    tasks = []
    for index in range(size):
        deps = draw(st.frozensets(st.integers(0, index - 1), max_size=2)) if index else frozenset()
        tasks.append(TaskSpec(
            priority=draw(st.sampled_from(list(Priority))), age_seconds=draw(ages),
            phase=draw(st.sampled_from(PHASES)), capabilities=draw(capability_sets),
            status=draw(st.sampled_from(["pending"] * 4 + ["completed", "claimed", "failed"])),
            due=draw(st.sampled_from([True, True, True, False])), depends_on=deps, ticket=draw(st.integers(0, 2)),
        ))
    return QueueSpec(
        tasks=tasks, blocked_tickets=draw(st.frozensets(st.sampled_from([1, 2]))),
        agent_phase=draw(st.none() | st.sampled_from(PHASES)),
        agent_capabilities=draw(st.frozensets(st.sampled_from(CAPABILITIES))),
    )


def reference_candidates(spec: QueueSpec) -> list[TaskSpec]:
    """The tasks the claim may return: eligible ones with the highest score at ``now``.

    Scores are compared exactly, in seconds: ``weight * aging + age``. When the best tasks share
    priority and age (so the same stored score), only the oldest id is acceptable; when they tie
    across priorities the stored floats may round either way, so any of them is.
    """
    eligible = [
        t for t in spec.tasks
        if t.status == "pending" and t.due
        and all(spec.tasks[d].status == "completed" for d in t.depends_on)
        and t.ticket not in spec.blocked_tickets
        and t.capabilities <= spec.agent_capabilities
        and (spec.agent_phase is None or t.phase == spec.agent_phase)
    ]
    if not eligible:
        return []
    best = max(t.priority.weight * AGING + t.age_seconds for t in eligible)
    tied = [t for t in eligible if t.priority.weight * AGING + t.age_seconds == best]
    if len({t.priority for t in tied}) == 1:
        return [min(tied, key=lambda t: t.id)]
    return tied


def build_queue(uow, project_id: int, spec: QueueSpec, serial: int) -> str:
    tickets = TicketService(uow)
    first = tickets.create_ticket(project_id, f"t{serial}-0")
    ticket_ids = [first.id] + [
        tickets.create_ticket(project_id, f"t{serial}-{n}", blocked_by=[first.id] if n in spec.blocked_tickets
                              else None).id
        for n in (1, 2)
    ]
    queue = QueueService(uow)
    for index, t in enumerate(spec.tasks):
        t.id = queue.create_task(
            ticket_ids[t.ticket], t.phase, f"task {index}", priority=t.priority.value,
            required_capabilities=sorted(t.capabilities),
            depends_on=[spec.tasks[d].id for d in t.depends_on],
        ).id
    now = utcnow()
    with uow:
        for t in spec.tasks:
            created = now - timedelta(seconds=t.age_seconds)
            uow.session.execute(update(Task).where(Task.id == t.id).values(
                created_at=created, score=claim_score(t.priority, created.timestamp(), AGING),
                next_attempt_at=now - timedelta(seconds=5) if t.due else now + timedelta(hours=1)))
    for t in spec.tasks:
        if t.status == "completed":  # through the service, so dependents' counters drop as in production
            with uow:
                uow.session.execute(update(Task).where(Task.id == t.id).values(status="claimed"))
            queue.complete_task(t.id, None)
        elif t.status != "pending":
            with uow:
                uow.session.execute(update(Task).where(Task.id == t.id).values(status=t.status))
    agent = AgentService(uow).register_agent(f"agent-{serial}", phase_id=spec.agent_phase,
                                             capabilities=sorted(spec.agent_capabilities))
    return agent.id


def retire_leftovers(uow) -> None:
    """Take this example's tasks out of later examples' way (the database lives for the whole test)."""
    with uow:
        uow.session.execute(update(Task).where(Task.status == "pending").values(status="cancelled"))


def test_claim_matches_reference(uow, project):
    serials = count()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
    @given(spec=queue_specs())
    def check(spec: QueueSpec) -> None:
        agent_id = build_queue(uow, project.id, spec, next(serials))
        queue = QueueService(uow)
        try:
            for _ in range(len(spec.tasks) + 1):
                candidates = reference_candidates(spec)
                claimed = queue.claim_next_task(agent_id)
                if not candidates:
                    assert claimed is None
                    return
                assert claimed is not None, f"expected one of {[t.id for t in candidates]}, got nothing"
                assert claimed.id in {t.id for t in candidates}
                assert (claimed.status, claimed.assigned_agent_id) == ("claimed", agent_id)
                next(t for t in spec.tasks if t.id == claimed.id).status = "claimed"
            raise AssertionError("claimed more tasks than were queued")
        finally:
            retire_leftovers(uow)

    check()


def test_equal_scores_are_claimed_first_come_first_served(uow, project):
    ticket = TicketService(uow).create_ticket(project.id, "ties")
    queue = QueueService(uow)
    ids = [queue.create_task(ticket.id, "PHASE_DESIGN", f"t{n}", priority="HIGH").id for n in range(4)]
    with uow:  # the same score for all: ordering falls to the id
        uow.session.execute(update(Task).where(Task.id.in_(ids)).values(score=1.5))
    agent = AgentService(uow).register_agent("fifo")
    assert [queue.claim_next_task(agent.id).id for _ in ids] == ids


# -- the plan: the claim walks the ready index and stops, whatever the queue length ------------

def captured_claim(db, queue: QueueService, agent_id: str, caplog=None) -> tuple[str, object]:
    """Run a real claim and return the claim statement and parameters it sent.

    Both backends run it on the driver connection, where SQLAlchemy's events do not see it; the
    statements log it at DEBUG (SQLite's with its positional values, converted).
    """
    postgres = db.backend == "postgresql"
    logger = "phaseloom.queue._statements" if postgres else "phaseloom.queue._sqlite_statements"
    with caplog.at_level(logging.DEBUG, logger=logger):
        assert queue.claim_next_task(agent_id) is not None
    start = "WITH changed AS" if postgres else "UPDATE tasks"
    claims = [r for r in caplog.records if getattr(r, "sql", "").lstrip().startswith(start)]
    return claims[-1].sql, claims[-1].params


@pytest.mark.parametrize("phase_id, index", [(None, "ix_tasks_ready_score_id"),
                                             ("PHASE_REQUIREMENTS", "ix_tasks_ready_phase_score_id")])
def test_claim_plan_uses_the_ready_index_without_sorting(db, uow, project, phase_id, index, caplog):
    ticket = TicketService(uow).create_ticket(project.id, "plan")
    for n in range(5):
        TicketService(uow).create_ticket(project.id, f"other {n}")
    seed_tasks(db, ticket.id, 3_000)
    agent = AgentService(uow).register_agent("planner", phase_id=phase_id, capabilities=["python"])
    queue = QueueService(uow)
    with db.engine.begin() as conn:
        if db.backend == "postgresql":
            conn.exec_driver_sql("ANALYZE")
    statement, params = captured_claim(db, queue, agent.id, caplog)
    with db.engine.connect() as conn:
        if db.backend == "sqlite":
            plan = "\n".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
            assert f"USING INDEX {index}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        else:
            # ANALYZE runs the claim, so roll it back; rows=1 proves the scan stopped at the first task.
            with conn.begin() as tx:
                explained = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params).scalar()
                tx.rollback()
            nodes = list(plan_nodes(explained[0]["Plan"]))
            scans = [n for n in nodes if n.get("Index Name") == index]
            assert scans and all(n["Actual Rows"] == 1 for n in scans), nodes
            assert not any(n["Node Type"] == "Sort" for n in nodes), nodes
            assert not any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "tasks" for n in nodes), nodes


def plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def test_claim_cost_does_not_grow_with_the_queue_on_sqlite(tmp_path, caplog):
    """SQLite's VM instruction count for one claim: the same at 1,000 and at 20,000 pending tasks."""
    from phaseloom.db.engine import Database
    from phaseloom.db.migrate import upgrade
    from phaseloom.db.unit_of_work import UnitOfWork

    steps = {}
    for size in (1_000, 20_000):
        db = Database.connect(f"sqlite:///{tmp_path}/q{size}.db")
        upgrade(db.engine)
        uow = UnitOfWork(db)
        project = make_project(uow)
        ticket = TicketService(uow).create_ticket(project.id, "t")
        seed_tasks(db, ticket.id, size)
        agent = AgentService(uow).register_agent("a")
        statement, params = captured_claim(db, QueueService(uow), agent.id, caplog)
        with db.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            counter = [0]
            raw.set_progress_handler(lambda: counter.__setitem__(0, counter[0] + 1), 10)
            with conn.begin() as tx:
                conn.exec_driver_sql(statement, params).all()
                tx.rollback()
            raw.set_progress_handler(None, 0)
        steps[size] = counter[0]
        db.dispose()
    assert 0 < steps[20_000] <= steps[1_000] * 1.5 + 10, steps


def make_project(uow):
    from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
    from phaseloom.services.projects import ProjectService
    from phaseloom.services.workflows import WorkflowService

    WorkflowService(uow).save_document(load_workflow_source(shipped_workflow("software_development")))
    return ProjectService(uow).create_project("demo", "software_development")
