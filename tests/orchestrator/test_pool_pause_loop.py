"""A pool's pause is held by the loop itself: the event that tells the board is best effort."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy.exc import OperationalError

from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
from phaseloom.queue import QueueService
from phaseloom.runtimes.command import CommandRuntime
from phaseloom.services.pool_pauses import PoolPauseService
from phaseloom.services.tickets import TicketService

LIMITED = "import sys; print('429 Too Many Requests: retry after 1s', file=sys.stderr); sys.exit(1)"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_pause_whose_event_cannot_be_written_still_holds_and_ends(db, uow, project, tmp_path, monkeypatch):
    """Recording pool.paused / pool.resumed happened inside the tick, unguarded: a failure there (the
    database away at that moment) broke the tick that had to resume the pool."""
    ticket = TicketService(uow).create_ticket(project.id, "limited")
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "hit the limit")

    told: list[str] = []

    def unwritable(event):
        def record(self, pool, *args, **kwargs):
            told.append(f"{event} {pool}")
            raise OperationalError("INSERT INTO system_events", {}, Exception("no such table: system_events"))
        return record

    monkeypatch.setattr(PoolPauseService, "paused", unwritable("paused"))
    monkeypatch.setattr(PoolPauseService, "resumed", unwritable("resumed"))
    config = OrchestratorConfig(pools=(PoolSpec("w", size=1, runtime="command"),), check_mcp=False,
                                workspace_root=tmp_path / "ws", log_dir=tmp_path / "logs")
    orchestrator = Orchestrator(db, lambda spec: CommandRuntime([sys.executable, "-c", LIMITED]), config)
    orchestrator.run(until=lambda: "resumed w" in told, max_seconds=30)

    assert told[:2] == ["paused w", "resumed w"]   # each tried and failed; the pool resumed and the loop went on
    back = QueueService(uow).get(task.id)
    assert (back.error_class, back.retry_count) == ("rate_limited", 0)   # given back with no retry spent
