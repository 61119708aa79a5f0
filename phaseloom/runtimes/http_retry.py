"""Retrying one HTTP call to a model provider: rate limits, server errors and dropped connections.

A provider that answers 429 or 5xx, or a connection that fails, is usually fine a moment later, so
the call is repeated inside the run with exponential backoff — the wait the server asks for
(``retry-after-ms``, ``Retry-After`` in seconds or as an HTTP-date) winning over our own. A wait
longer than the cap is not slept inside the run: the caller gives the task back with that wait,
so the queue holds it (and its lease is not held idle) until the provider is ready.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from phaseloom.domain.tasks import backoff_delay

log = logging.getLogger(__name__)

# What the OpenAI SDKs retry too: request timeout, lock conflict, rate limit, and every server error.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call is tried: ``max_attempts`` sends in all, waits growing from ``base_seconds``."""

    max_attempts: int = 5
    base_seconds: float = 1.0
    cap_seconds: float = 60.0  # the longest wait slept inside a run, ours or the server's

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_seconds < 0 or self.cap_seconds < 0:
            raise ValueError("a retry policy needs max_attempts >= 1 and non-negative waits")


@dataclass
class Attempted:
    """The last try of a call: its response (any status) or the connection error, and how it went."""

    response: httpx.Response | None
    error: httpx.TransportError | None
    attempts: int
    retry_after: float | None  # the wait the server last asked for, in seconds (None: it did not say)


def is_retryable(response: httpx.Response) -> bool:
    """Whether sending again may succeed; a provider's ``x-should-retry`` header overrides the status."""
    should = response.headers.get("x-should-retry", "").strip().lower()
    if should in ("true", "false"):
        return should == "true"
    return response.status_code in RETRYABLE_STATUSES or response.status_code >= 500


def retry_after_seconds(headers: httpx.Headers, now: datetime | None = None) -> float | None:
    """The wait the server asks for: ``retry-after-ms``, else ``Retry-After`` (seconds or an HTTP-date)."""
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def send_with_retry(send: Callable[[], httpx.Response], policy: RetryPolicy, *,
                    sleep: Callable[[float], None] = time.sleep, before_wait: Callable[[], None] | None = None,
                    should_retry: Callable[[httpx.Response], bool] = is_retryable,
                    rng: random.Random | None = None) -> Attempted:
    """Call ``send`` until it gives a response worth returning, or the policy's attempts are spent.

    ``before_wait`` runs before each wait (the runtime renews the task's lease there);
    ``should_retry`` lets a provider refine which responses are worth sending again.
    """
    last = Attempted(None, None, 0, None)
    for attempt in range(1, policy.max_attempts + 1):
        try:
            response = send()
        except httpx.TransportError as exc:
            last = Attempted(None, exc, attempt, None)
            reason = f"{type(exc).__name__}: {exc}"
        else:
            last = Attempted(response, None, attempt, retry_after_seconds(response.headers))
            if not should_retry(response):
                return last
            reason = f"HTTP {response.status_code}"
        if attempt == policy.max_attempts:
            break
        wait = last.retry_after if last.retry_after is not None else backoff_delay(
            attempt, policy.base_seconds, policy.cap_seconds, rng)
        if wait > policy.cap_seconds:  # longer than we hold a task idle: let the queue wait instead
            break
        log.warning("model endpoint: %s; retrying in %.1fs (attempt %d of %d)", reason, wait, attempt + 1,
                    policy.max_attempts)
        if before_wait is not None:
            before_wait()
        sleep(wait)
    return last
