"""A pool paused by a rate limit, in a real browser: the board says until when, live, and drops the line
when the pool resumes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.pool_pauses import PoolPauseService

pytestmark = pytest.mark.slow  # a real browser and a real server per test


def test_the_board_shows_a_paused_pool_until_its_reset_and_drops_it_on_resume(page, site):
    _server, demo, db = site
    line = page.locator("#paused-pools")
    assert line.is_hidden()  # nothing paused: no line

    until = datetime.now(timezone.utc) + timedelta(minutes=10)
    PoolPauseService(UnitOfWork(db)).paused("worker", until, "rate limit", project_id=demo.project_id,
                                            runtime="command:claude-code")
    line.locator(".paused-pool").wait_for()  # live: the pool.paused event, no reload
    expected = f"pool worker: paused until {until.astimezone().strftime('%H:%M')} (rate limit)"
    assert line.inner_text().strip() == expected
    assert line.get_attribute("role") == "status"

    PoolPauseService(UnitOfWork(db)).resumed("worker", project_id=demo.project_id)
    line.wait_for(state="hidden")
    page.reload()
    page.wait_for_selector("#board[data-loaded] .card")
    assert page.locator("#paused-pools").is_hidden()
