"""A task its agent reported done while its worker has the work still to merge keeps that worker's lease,
so a worker that dies in between (before a heartbeat renews it) leaves the merge to the housekeeping."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from phaseloom.db.models import SystemEvent
from phaseloom.queue import QueueService
from phaseloom.services.agents import AgentService
from phaseloom.services.tickets import TicketService


@pytest.fixture
def queue(uow):
    return QueueService(uow)


def _started(uow, queue, project, *, merge_after: bool, lease_seconds: float = 60):
    ticket = TicketService(uow).create_ticket(project.id, "ticket")
    task = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "t")
    agent = AgentService(uow).register_agent("a")
    assert queue.claim_next_task(agent.id, lease_seconds=lease_seconds).id == task.id
    queue.start_task(task.id, agent.id, merge_after=merge_after)
    return task, agent


def test_a_report_with_the_merge_still_to_do_keeps_the_workers_lease(uow, queue, project):
    task, agent = _started(uow, queue, project, merge_after=True)
    leased_until = queue.get(task.id).lease_expires_at
    queue.complete_task(task.id, agent.id, {"ok": True})
    done = queue.get(task.id)
    assert (done.status, done.awaiting_merge, done.lease_expires_at) == ("completed", True, leased_until)


def test_a_worker_that_dies_before_merging_leaves_the_merge_to_the_housekeeping(uow, queue, project):
    task, agent = _started(uow, queue, project, merge_after=True, lease_seconds=1.0)
    queue.complete_task(task.id, agent.id, {"ok": True})
    assert queue.unmerged_orphans() == []  # its worker's lease still runs: the merge is its own
    time.sleep(1.1)  # the worker died before its first heartbeat after the report: nothing renews the lease
    assert [t.id for t in queue.unmerged_orphans()] == [task.id]
    with uow:
        taken = uow.session.scalars(select(SystemEvent.entity_id)
                                    .where(SystemEvent.event_type == "task.merge_taken_over")).all()
    assert taken == [str(task.id)]


def test_a_report_with_nothing_to_merge_ends_the_lease(uow, queue, project):
    task, agent = _started(uow, queue, project, merge_after=False)
    queue.complete_task(task.id, agent.id, {"ok": True})
    done = queue.get(task.id)
    assert (done.status, done.awaiting_merge, done.lease_expires_at) == ("completed", False, None)
