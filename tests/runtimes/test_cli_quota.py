"""Quota-aware pools through plain ``phaseloom run`` with the real OpenCode CLI: a 429 with a short
reset pauses the pool until the reset (``pool.paused``), its task goes back with no retry spent, and
the pool resumes on time (``pool.resumed``) and completes the task."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from phaseloom.db.models import SystemEvent
from tests.runtimes.agent_e2e import make_project
from tests.runtimes.fake_models.chat import rate_limited
from tests.runtimes.test_cli_opencode import SUMMARY, opencode, reporting_script, run  # noqa: F401 - a fixture

RESET_SECONDS = 4


def pool_and_task_events(project) -> list[SystemEvent]:
    db = project.database()
    try:
        with db.sessions() as session:
            rows = list(session.scalars(select(SystemEvent).where(SystemEvent.event_type.in_(
                ["pool.paused", "pool.resumed", "task.assigned", "task.rate_limited"])).order_by(SystemEvent.id)))
            session.expunge_all()
            return rows
    finally:
        db.dispose()


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def test_a_429_pauses_the_pool_until_its_reset_and_resumes_it_with_no_retry_spent(opencode, model, tmp_path):  # noqa: F811
    project = make_project(tmp_path)
    script = reporting_script()
    # More 429s than OpenCode retries on its own: its run gives up, saying the provider's retry-after.
    script.errors.extend(rate_limited(retry_after=RESET_SECONDS) for _ in range(9))
    proc = run(project, model, script, max_seconds=400)

    [task] = project.tasks()
    assert task.status == "completed", (task.error, proc.stdout, proc.stderr)
    assert task.result["summary"] == SUMMARY
    assert task.retry_count == 0                                   # the rate limit spent no retry
    kinds = [e.event_type for e in pool_and_task_events(project)]
    assert kinds == ["task.assigned", "task.rate_limited", "pool.paused", "pool.resumed", "task.assigned"], kinds
    _, limited, paused, resumed, claimed = pool_and_task_events(project)
    until = datetime.fromisoformat(paused.payload["until"])
    assert paused.entity_id == "worker" and paused.payload["reason"] == "rate limit"
    assert paused.payload["task_id"] == task.id
    assert paused.payload["label"].startswith("paused until ") and paused.payload["label"].endswith("(rate limit)")
    # Paused for the reset OpenCode reported, from when the run ended.
    assert abs((until - aware(limited.created_at)).total_seconds() - RESET_SECONDS) < 2
    # Resumed on time: not before the reset, and within a couple of loop polls after it.
    assert until <= aware(resumed.created_at) < until + timedelta(seconds=5)
    assert aware(claimed.created_at) >= until
