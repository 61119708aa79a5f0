from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phaseloom.domain.errors import InvalidInput
from phaseloom.domain.failures import FailureClass, classify_failure, rules_from_config
from phaseloom.domain.tasks import backoff_delay

R, P = FailureClass.RETRYABLE, FailureClass.PERMANENT


@pytest.mark.parametrize("error, expected", [
    ("429 Too Many Requests", R),
    ("API rate limit exceeded (403)", R),  # a rate limit wins over the 403
    ("Rate-limited by upstream", R),
    ("request timed out after 30s", R),
    ("ReadTimeout: timeout", R),
    ("Connection reset by peer", R),
    ("ECONNREFUSED 127.0.0.1:5432", R),
    ("503 Service Unavailable", R),
    ("lease expired: the agent stopped sending heartbeats", R),
    ("400 Bad Request: missing field", P),
    ("invalid argument: --frobnicate", P),
    ("Permission denied: /etc/shadow", P),
    ("403 Forbidden", P),
    ("file not found: design.md", P),
    ("No such file or directory", P),
    ("segmentation fault", R),  # unknown errors are retried
    ("", R),
])
def test_classification_table(error, expected):
    assert classify_failure(error).failure_class is expected


def test_configured_patterns_come_first_and_unknown_defaults_apply():
    rules = rules_from_config({"permanent": [r"quota exceeded"], "retryable": [r"flaky widget"]})
    assert classify_failure("quota exceeded for project", rules).failure_class is P
    assert classify_failure("quota exceeded for project").failure_class is R
    outcome = classify_failure("the flaky widget broke: permission denied", rules)
    assert outcome.retryable and "flaky widget" in outcome.reason
    assert "unrecognised" in classify_failure("???").reason


def test_bad_pattern_is_a_plain_error():
    with pytest.raises(InvalidInput, match="not a valid regular expression"):
        rules_from_config({"retryable": ["(unclosed"]})


@given(attempt=st.integers(min_value=1, max_value=200), base=st.floats(min_value=0.01, max_value=60),
       cap=st.floats(min_value=0.01, max_value=3600), seed=st.integers())
def test_backoff_stays_within_bounds(attempt, base, cap, seed):
    delay = backoff_delay(attempt, base, cap, random.Random(seed))
    expected = min(cap, base * 2 ** (attempt - 1))
    assert expected / 2 <= delay <= expected <= cap
