from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from phaseloom.domain.guardian import (GuardianPolicy, Trajectory, blend, choose_intervention, misaligned_streak,
                                       outside_expected, score_trajectory, steering_text)

POLICY = GuardianPolicy(stuck_seconds=600, idle_seconds=300)
NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_a_progressing_agent_scores_one_and_says_so():
    verdict = score_trajectory(Trajectory(age_seconds=900, seconds_since_progress=30, activity_count=5), POLICY)
    assert verdict.score == 1.0
    assert "no rule fired" in verdict.reasons[0]


def test_no_progress_past_the_stuck_threshold_is_named():
    verdict = score_trajectory(Trajectory(age_seconds=2000, seconds_since_progress=700, activity_count=3), POLICY)
    assert verdict.score == 0.5
    assert verdict.reasons == ("no progress for 700 s (no event, tool call or log output; stuck threshold 600 s)",)


def test_idle_fires_only_for_an_agent_that_never_did_anything_and_is_not_already_stuck():
    idle = score_trajectory(Trajectory(age_seconds=400, seconds_since_progress=400), POLICY)
    assert idle.score == 0.7 and idle.reasons[0].startswith("idle:")
    stuck = score_trajectory(Trajectory(age_seconds=900, seconds_since_progress=900), POLICY)
    assert len(stuck.reasons) == 1 and stuck.reasons[0].startswith("no progress for 900 s")


def test_repeated_identical_failures_count_once_per_message():
    once = score_trajectory(Trajectory(900, 10, 1, failures=("boom", "other")), POLICY)
    assert once.score == 1.0
    thrice = score_trajectory(Trajectory(900, 10, 1, failures=("boom", " boom", "boom")), POLICY)
    assert thrice.score == 0.6 and "the same failure 3 times: 'boom'" in thrice.reasons[0]


def test_files_outside_expected_outputs_and_denied_tools():
    t = Trajectory(900, 10, 1, files_written=("src/app.py", "tests/test_app.py", "secrets.txt"),
                   expected_patterns=("src/**/*.py", "tests/**/*.py"), denied_tools=("change_ticket_status",) * 2)
    verdict = score_trajectory(t, POLICY)
    assert verdict.score == 0.6
    assert any("outside the phase's expected outputs: secrets.txt" in r for r in verdict.reasons)
    assert any("denied to its phase 2 time(s): change_ticket_status" in r for r in verdict.reasons)


def test_a_phase_without_expected_outputs_constrains_nothing():
    assert outside_expected(["anything.txt"], []) == []
    assert outside_expected(["./design.md", "notes.txt"], ["design.md"]) == ["notes.txt"]


@given(st.floats(0, 1e6), st.floats(0, 1e6), st.integers(0, 50),
       st.lists(st.sampled_from(["a", "b", "c"]), max_size=8), st.lists(st.text(max_size=5), max_size=10),
       st.lists(st.sampled_from(["x", "y"]), max_size=6))
def test_the_score_is_always_between_zero_and_one_with_a_reason(age, since, activity, failures, files, denied):
    t = Trajectory(age, since, activity, tuple(failures), tuple(files), ("src/*.py",), tuple(denied))
    verdict = score_trajectory(t, POLICY)
    assert 0.0 <= verdict.score <= 1.0
    assert verdict.reasons


@given(st.floats(0, 1e5), st.floats(0, 1e5))
def test_more_time_without_progress_never_raises_the_score(since, extra):
    base = score_trajectory(Trajectory(1e6, since, 1), POLICY).score
    later = score_trajectory(Trajectory(1e6, since + extra, 1), POLICY).score
    assert later <= base


@given(st.floats(0, 1), st.floats(-1, 2), st.floats(0, 1))
def test_blend_stays_between_its_inputs(rule, judge, weight):
    mixed = blend(rule, judge, weight)
    clipped = min(1.0, max(0.0, judge))
    assert min(rule, clipped) - 1e-3 <= mixed <= max(rule, clipped) + 1e-3


def test_misaligned_streak_counts_from_the_newest():
    assert misaligned_streak([0.2, 0.3, 0.9, 0.1], 0.6) == 2
    assert misaligned_streak([0.7, 0.1], 0.6) == 0


def test_intervention_steers_at_most_every_cooldown_and_diagnoses_once():
    recent = NOW - timedelta(seconds=120)
    assert choose_intervention(0.9, 0, last_note_at=None, already_diagnosed=False, now=NOW) == "none"
    assert choose_intervention(0.2, 1, last_note_at=None, already_diagnosed=False, now=NOW) == "steer"
    assert choose_intervention(0.2, 2, last_note_at=recent, already_diagnosed=False, now=NOW) == "none"
    assert choose_intervention(0.2, 2, last_note_at=NOW - timedelta(seconds=301), already_diagnosed=False,
                               now=NOW) == "steer"
    assert choose_intervention(0.2, 3, last_note_at=recent, already_diagnosed=False, now=NOW) == "diagnose"
    assert choose_intervention(0.2, 4, last_note_at=recent, already_diagnosed=True, now=NOW) == "none"


def test_steering_text_lists_the_reasons_and_expected_outputs():
    text = steering_text(["no progress for 700 s"], "PHASE_IMPLEMENTATION", ("src/**/*.py",))
    assert "- no progress for 700 s" in text and "src/**/*.py" in text and "PHASE_IMPLEMENTATION" in text
