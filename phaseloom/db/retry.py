"""Riding out a database that went away for a moment (PostgreSQL restarted, a failover).

Long-running loops (the orchestrator, workers) call :func:`call_with_retry` around each round of
work: a *transient* error — the connection dropped, the server is starting or shutting down — is
retried with capped exponential backoff and jitter, up to a bounded total time; anything else
propagates at once. The engine's ``pool_pre_ping`` replaces dead pooled connections, so a retry
after the server is back simply works. Each retried unit of work must be safe to run again: it
either committed (and re-running it finds nothing left to do) or it rolled back whole.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Words in driver messages that mean "the server or the connection is gone", not "your query is wrong".
_TRANSIENT_WORDS = (
    "server closed the connection", "connection refused", "could not connect", "connection is closed",
    "terminating connection", "the database system is starting up", "the database system is shutting down",
    "the database system is in recovery mode", "connection timed out", "consuming input failed",
    "connection failed", "ssl syscall error", "no connection to the server", "connection reset",
    "admin_shutdown", "cannot connect now",
)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff ``base_seconds * 2**n`` capped at ``cap_seconds``, giving up after ``max_seconds`` in all."""

    base_seconds: float = 0.2
    cap_seconds: float = 5.0
    max_seconds: float = 120.0

    def delay(self, attempt: int) -> float:
        """The pause before retry ``attempt`` (1-based): full jitter over the capped exponential."""
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** min(max(0, attempt - 1), 30)))
        return random.uniform(ceiling / 2, ceiling)


DEFAULT_POLICY = RetryPolicy()


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` means the database connection was lost or refused (worth retrying)."""
    if isinstance(exc, DisconnectionError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (OperationalError, DBAPIError)) or type(exc).__module__.startswith("psycopg"):
        text = str(getattr(exc, "orig", None) or exc).lower()
        return any(word in text for word in _TRANSIENT_WORDS)
    return False


def call_with_retry(fn: Callable[[], T], *, policy: RetryPolicy = DEFAULT_POLICY, what: str = "database work",
                    sleep: Callable[[float], object] = time.sleep) -> T:
    """Run ``fn``; on a transient database error, wait and run it again, for at most ``policy.max_seconds``."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            attempt += 1
            pause = policy.delay(attempt)
            if time.monotonic() - started + pause > policy.max_seconds:
                log.error("%s: the database stayed unreachable for %.0fs; giving up", what, policy.max_seconds)
                raise
            log.warning("%s: database unreachable (%s); retry %d in %.1fs", what,
                        str(exc).splitlines()[0][:200], attempt, pause)
            sleep(pause)
