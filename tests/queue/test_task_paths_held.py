"""The held path prefixes the claim reads (task_paths.held_project_id, kept by triggers, migration 0014_paths_held).

A row holds its task's project exactly while the task is claimed or running, whatever moved the task;
and the SQL overlap rule over held rows is the domain's :func:`prefixes_conflict`, byte for byte, on
both backends (PostgreSQL compares byte-wise whatever the database's collation).
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import insert, literal, select, update

from phaseloom.db.models import Task, TaskPath
from phaseloom.domain.errors import InvalidInput
from phaseloom.domain.task_paths import PREFIX_END, prefixes_conflict
from phaseloom.queue import QueueService, RetryService
from phaseloom.queue._statements import held_conflict
from phaseloom.services.agents import AgentService
from phaseloom.services.tickets import TicketService

PHASE = "PHASE_REQUIREMENTS"
ACTIVE = ("claimed", "running")


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "ticket")


def held_rows(uow) -> dict[tuple[int, str], int | None]:
    with uow:
        return {(r.task_id, r.glob): r.held_project_id
                for r in uow.session.execute(select(TaskPath.task_id, TaskPath.glob, TaskPath.held_project_id))}


def assert_held_exactly_while_active(uow) -> None:
    with uow:
        tasks = {t.id: t for t in uow.session.scalars(select(Task))}
    for (task_id, glob), held in held_rows(uow).items():
        task = tasks[task_id]
        expected = task.project_id if task.status in ACTIVE else None
        assert held == expected, (task_id, glob, task.status, held)


def test_every_move_in_and_out_of_claimed_or_running_sets_the_held_project(uow, ticket, project):
    queue = QueueService(uow)
    agent = AgentService(uow).register_agent("a1").id
    tasks = [queue.create_task(ticket.id, PHASE, f"t{n}", paths=[f"src/m{n}/**", f"docs/m{n}.md"])
             for n in range(6)]
    assert_held_exactly_while_active(uow)
    claimed = [queue.claim_next_task(agent) for _ in range(6)]
    assert sorted(t.id for t in claimed) == sorted(t.id for t in tasks)
    assert set(held_rows(uow).values()) == {project.id}
    first, second, third, fourth, fifth, sixth = claimed
    queue.start_task(first.id, agent)
    queue.complete_task(first.id, agent, {"ok": True})
    queue.fail_task(second.id, agent, "boom", retryable=True)  # back to pending, backing off
    queue.fail_task(third.id, agent, "no", retryable=False)  # failed for good
    queue.cancel_task(fourth.id)
    # A running task declares the files its attempt changed (rows inserted while it is active).
    queue.start_task(fifth.id, agent)
    queue.inherit_changed_files(fifth.id, ["src/m4/a.py", "lib/new.py"])
    assert_held_exactly_while_active(uow)
    assert {g for (t, g), held in held_rows(uow).items() if t == fifth.id and held} >= {"lib/new.py"}
    # Any writer, even a bulk UPDATE behind the ORM's back, keeps the column true.
    with uow:
        uow.session.execute(update(Task).where(Task.id == sixth.id).values(status="pending"))
    assert_held_exactly_while_active(uow)
    RetryService(uow).retry_task(third.id)  # failed -> pending, still not held
    assert_held_exactly_while_active(uow)
    assert held_rows(uow)[(fifth.id, "lib/new.py")] == project.id


def test_a_task_reaped_after_its_lease_ran_out_holds_nothing(uow, ticket):
    queue = QueueService(uow)
    agent = AgentService(uow).register_agent("a1").id
    task = queue.create_task(ticket.id, PHASE, "t", paths=["src/**"])
    queue.claim_next_task(agent, lease_seconds=-1)
    assert queue.reap_expired_leases() == [task.id]
    assert_held_exactly_while_active(uow)
    assert set(held_rows(uow).values()) == {None}


PREFIXES = ["", "s", "src", "src/", "src/a", "src/auth/", "src/auth/login.py", "src/b", "Src/", "SRC/a",
            "src/é/", "src/e/", "src/日本/x", "src/日", "src~/", "src-/", "src.py", "a b/", "z/", "src/auth"]


def test_the_held_overlap_rule_is_the_domains_byte_for_byte(db, uow, ticket, project):
    """Every pair of a held and a candidate prefix, case, accents and punctuation included."""
    queue = QueueService(uow)
    agent = AgentService(uow).register_agent("a1").id
    postgres = db.backend == "postgresql"
    for held_prefix in PREFIXES:
        task = queue.create_task(ticket.id, PHASE, f"holds {held_prefix!r}", paths=[(held_prefix or "") + "*"])
        claimed = queue.claim_next_task(agent)
        assert claimed.id == task.id
        with uow:
            rows = uow.session.execute(select(TaskPath.prefix, TaskPath.held_project_id)
                                       .where(TaskPath.task_id == task.id)).all()
            assert rows == [(held_prefix, project.id)]
            for candidate in PREFIXES:
                found = uow.session.scalar(select(held_conflict(literal(candidate), literal(project.id),
                                                                for_postgres=postgres)))
                assert bool(found) == prefixes_conflict(held_prefix, candidate), (held_prefix, candidate)
        queue.complete_task(task.id, agent, {})


def test_random_prefixes_agree_with_the_domain(db, uow, ticket, project):
    """Random held sets (many held rows at once) against random candidates, both directions of "starts with"."""
    rng = random.Random(20)
    alphabet = ["a", "b", "/", "é", "Z", "-", "日"]
    words = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 5))) for _ in range(60)})
    postgres = db.backend == "postgresql"
    queue = QueueService(uow)
    agent = AgentService(uow).register_agent("a1").id
    holder = queue.create_task(ticket.id, PHASE, "holder", paths=["x/**"])
    assert queue.claim_next_task(agent).id == holder.id
    held = rng.sample(words, 12)
    with uow:
        uow.session.execute(insert(TaskPath), [dict(task_id=holder.id, glob=f"{w}#{n}", prefix=w)
                                               for n, w in enumerate(held)])
        for candidate in words:
            found = uow.session.scalar(select(held_conflict(literal(candidate), literal(project.id),
                                                            for_postgres=postgres)))
            expected = any(prefixes_conflict(h, candidate) for h in [*held, "x/"])
            assert bool(found) == expected, (candidate, held)


def test_a_glob_holding_the_prefix_end_character_is_refused(uow, ticket):
    with pytest.raises(InvalidInput, match="U\\+10FFFF"):
        QueueService(uow).create_task(ticket.id, PHASE, "bad", paths=[f"src/{PREFIX_END}/**"])


def test_many_running_tasks_and_the_candidates_they_block(uow, ticket):
    """50 running tasks each holding a folder, pending tasks on those folders and on free ones: every
    claim is a free-folder task, in score order, and the blocked ones wait."""
    queue = QueueService(uow)
    agent = AgentService(uow).register_agent("a1").id
    runners = [queue.create_task(ticket.id, PHASE, f"run {k}", priority="CRITICAL", paths=[f"src/mod{k}/**"])
               for k in range(50)]
    for _ in runners:
        queue.claim_next_task(agent)
    blocked = [queue.create_task(ticket.id, PHASE, f"blocked {k}", priority="HIGH", paths=[f"src/mod{k}/x.py"])
               for k in range(0, 50, 5)]
    blocked.append(queue.create_task(ticket.id, PHASE, "under all", priority="HIGH", paths=["src/**"]))
    free = [queue.create_task(ticket.id, PHASE, f"free {k}", priority="LOW", paths=[f"src/mod{k}x/**"])
            for k in range(50, 55)]
    claimed = [queue.claim_next_task(agent) for _ in free]
    assert [t.id for t in claimed] == [t.id for t in free]
    assert queue.claim_next_task(agent) is None
    assert set(queue.waiting_reasons([queue.get(t.id) for t in blocked])) == {t.id for t in blocked}
