"""Property tests for the claim score: priority order, ageing, and the stored/effective equivalence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phaseloom.domain.errors import InvalidInput
from phaseloom.domain.priorities import Priority, claim_score, effective_score

priorities = st.sampled_from(list(Priority))
# Whole seconds around "now" (2026): real epoch magnitudes, so float rounding is exercised too.
epochs = st.integers(min_value=1_700_000_000, max_value=1_800_000_000)
ages = st.integers(min_value=0, max_value=30 * 86_400)
agings = st.sampled_from([60.0, 600.0, 3600.0])

ORDER = [Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.CRITICAL]


@given(a=priorities, b=priorities, created=epochs, aging=agings)
def test_same_age_orders_by_priority(a, b, created, aging):
    if a.weight > b.weight:
        assert claim_score(a, created, aging) > claim_score(b, created, aging)
    elif a == b:
        assert claim_score(a, created, aging) == claim_score(b, created, aging)


@given(p=priorities, created=epochs, older_by=st.integers(min_value=1, max_value=30 * 86_400), aging=agings)
def test_older_task_of_same_priority_scores_higher(p, created, older_by, aging):
    assert claim_score(p, created - older_by, aging) > claim_score(p, created, aging)


@given(a=priorities, b=priorities, now=epochs, age_a=ages, age_b=ages, aging=agings)
def test_stored_score_orders_like_effective_score(a, b, now, age_a, age_b, aging):
    created_a, created_b = now - age_a, now - age_b
    # Compare in exact seconds to stay clear of float ties: a tie is weight*aging + age equal.
    exact_a = a.weight * aging + age_a
    exact_b = b.weight * aging + age_b
    stored_a, stored_b = claim_score(a, created_a, aging), claim_score(b, created_b, aging)
    live_a, live_b = effective_score(a, created_a, now, aging), effective_score(b, created_b, now, aging)
    if exact_a > exact_b:
        assert stored_a > stored_b and live_a > live_b
    elif exact_a < exact_b:
        assert stored_a < stored_b and live_a < live_b


@given(p=priorities, created=epochs, waited=ages, aging=agings)
def test_effective_score_grows_one_level_per_aging_period(p, created, waited, aging):
    score = effective_score(p, created, created + waited, aging)
    assert score == pytest.approx(p.weight + waited / aging, abs=1e-6)
    assert effective_score(p, created, created + waited + aging, aging) == pytest.approx(score + 1, abs=1e-6)


@given(low_waited=st.integers(min_value=0, max_value=10 * 86_400), now=epochs, aging=agings)
def test_no_starvation_low_overtakes_fresh_critical_after_enough_waiting(low_waited, now, aging):
    gap = (Priority.CRITICAL.weight - Priority.LOW.weight) * aging
    low = claim_score(Priority.LOW, now - low_waited, aging)
    fresh_critical = claim_score(Priority.CRITICAL, now, aging)
    if low_waited > gap:
        assert low > fresh_critical
    elif low_waited < gap:
        assert low < fresh_critical


@given(p=priorities, levels=st.integers(min_value=-3, max_value=10))
def test_boosted_moves_up_and_caps_at_critical(p, levels):
    boosted = p.boosted(levels)
    expected = ORDER[min(ORDER.index(p) + max(levels, 0), len(ORDER) - 1)]
    assert boosted == expected
    assert boosted.weight >= p.weight


@settings(max_examples=50)
@given(p=priorities, case=st.sampled_from([str.lower, str.upper, str.title]))
def test_parse_accepts_any_case(p, case):
    assert Priority.parse(case(p.value)) is p
    assert Priority.parse(p) is p


def test_parse_rejects_unknown_names_with_the_choices():
    with pytest.raises(InvalidInput, match="CRITICAL, HIGH, MEDIUM, LOW"):
        Priority.parse("urgent")
