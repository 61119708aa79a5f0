"""The retry helper: transient connection errors are retried with capped backoff, within a bound; others never."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from phaseloom.db.engine import Database
from phaseloom.db.retry import RetryPolicy, call_with_retry, is_transient
from tests.api.live_server import free_port


def _refused() -> OperationalError:
    """A real error from connecting to a port where no PostgreSQL listens."""
    db = Database.connect(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x?connect_timeout=2")
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        return exc
    finally:
        db.dispose()
    raise AssertionError("something answered on a free port")


def test_transient_errors_are_retried_with_growing_capped_pauses():
    error, pauses, calls = _refused(), [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 5:
            raise error
        return "done"

    policy = RetryPolicy(base_seconds=0.1, cap_seconds=0.4, max_seconds=60)
    assert call_with_retry(flaky, policy=policy, sleep=pauses.append) == "done"
    assert len(calls) == 5 and len(pauses) == 4
    assert 0.05 <= pauses[0] <= 0.1 and all(p <= 0.4 for p in pauses) and pauses[-1] >= 0.2


def test_other_errors_propagate_at_once_and_retries_are_bounded():
    def broken():
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    pauses: list[float] = []
    with pytest.raises(IntegrityError):
        call_with_retry(broken, sleep=pauses.append)
    assert pauses == [] and not is_transient(ValueError("server closed the connection"))

    error = _refused()
    with pytest.raises(OperationalError):
        call_with_retry(lambda: (_ for _ in ()).throw(error), policy=RetryPolicy(0.2, 0.2, max_seconds=0.5),
                        sleep=lambda _s: None)
