"""Property tests for the retry backoff bounds and task states."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from phaseloom.domain.tasks import HEARTBEAT_CEILING_SECONDS, TaskStatus, backoff_delay, heartbeat_interval

bases = st.floats(min_value=0.01, max_value=600, allow_nan=False)
caps = st.floats(min_value=0.01, max_value=86_400, allow_nan=False)
attempts = st.integers(min_value=1, max_value=10_000)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@given(attempt=attempts, base=bases, cap=caps, seed=seeds)
def test_delay_is_between_half_and_all_of_the_capped_exponential(attempt, base, cap, seed):
    exp = min(cap, base * 2 ** min(attempt - 1, 62))
    delay = backoff_delay(attempt, base, cap, random.Random(seed))
    assert exp / 2 <= delay <= exp
    assert delay <= cap
    assert delay > 0


@given(attempt=st.integers(min_value=1, max_value=60), base=bases, cap=caps, seed=seeds)
def test_bounds_never_shrink_with_more_attempts(attempt, base, cap, seed):
    # The same draw for two attempts: the later one never waits less.
    now = backoff_delay(attempt, base, cap, random.Random(seed))
    later = backoff_delay(attempt + 1, base, cap, random.Random(seed))
    assert later >= now


@given(attempt=st.integers(min_value=-5, max_value=0), base=bases, cap=caps)
def test_no_delay_before_the_first_retry(attempt, base, cap):
    assert backoff_delay(attempt, base, cap) == 0.0


@given(attempt=st.integers(min_value=64, max_value=10**9), base=bases, cap=caps, seed=seeds)
def test_huge_attempt_numbers_do_not_overflow(attempt, base, cap, seed):
    assert cap / 2 <= backoff_delay(attempt, base, cap, random.Random(seed)) <= cap


def test_final_states():
    assert {s for s in TaskStatus if s.is_final} == {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}


@given(st.floats(min_value=0, max_value=86_400, allow_nan=False))
def test_heartbeats_come_at_least_three_times_per_lease_and_at_most_every_ten_seconds(lease):
    """A 6 s lease once got a heartbeat every 10 s: a healthy 15 s agent lost its claim 4 times."""
    interval = heartbeat_interval(lease)
    assert interval <= lease / 3 and interval <= HEARTBEAT_CEILING_SECONDS
    assert interval == min(HEARTBEAT_CEILING_SECONDS, lease / 3)
