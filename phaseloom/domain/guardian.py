"""Guardian rules: how well a running agent's trajectory fits its phase, scored 0–1 with reasons.

Pure: the service gathers the trajectory (events, log growth, files touched, denied tool calls)
and these rules judge it. Each rule that fires takes a bounded penalty off a perfect score and says
why in plain words, so a person reading an assessment can check the verdict against the facts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from phaseloom.domain.diagnosis import AGENT_MISALIGNED, StuckVerdict
from phaseloom.domain.gates import glob_regex

INTERVENTIONS = ("none", "steer", "diagnose")
JUDGES = ("rules", "rules+llm")


class JudgeUnavailable(Exception):
    """The judge gave no usable score; ``str(exc)`` says why."""


class Judge(Protocol):
    """Scores an agent's trajectory from 0 (off track) to 1 (on track), with a one-sentence reason.

    Raises :class:`JudgeUnavailable` when it cannot (the Guardian then scores by its rules only).
    """

    def score(self, context: str) -> tuple[float, str]: ...


@dataclass(frozen=True)
class GuardianPolicy:
    """Thresholds; the defaults suit agents that report progress at least every few minutes."""

    stuck_seconds: float = 600.0
    idle_seconds: float = 300.0
    min_age_seconds: float = 120.0
    aligned_threshold: float = 0.6
    note_cooldown_seconds: float = 300.0
    diagnose_after: int = 3
    judge_weight: float = 0.5


@dataclass(frozen=True)
class Trajectory:
    """What a running agent did on its task, as the service observed it."""

    age_seconds: float
    seconds_since_progress: float
    activity_count: int = 0
    failures: tuple[str, ...] = ()
    files_written: tuple[str, ...] = ()
    expected_patterns: tuple[str, ...] = ()
    denied_tools: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleVerdict:
    score: float
    reasons: tuple[str, ...] = field(default_factory=tuple)


def score_trajectory(t: Trajectory, policy: GuardianPolicy = GuardianPolicy()) -> RuleVerdict:
    """Apply every rule; the score is 1 minus the fired rules' penalties, never below 0."""
    findings = [f for f in (_stuck(t, policy), _idle(t, policy), _repeated_failures(t),
                            _outside_outputs(t), _denied_tools(t)) if f]
    if not findings:
        return RuleVerdict(1.0, (f"progressing: last progress {t.seconds_since_progress:.0f} s ago, "
                                 "no rule fired",))
    score = max(0.0, 1.0 - sum(penalty for penalty, _ in findings))
    return RuleVerdict(round(score, 3), tuple(reason for _, reason in findings))


def _stuck(t: Trajectory, p: GuardianPolicy) -> tuple[float, str] | None:
    if t.seconds_since_progress < p.stuck_seconds:
        return None
    return 0.5, (f"no progress for {t.seconds_since_progress:.0f} s (no event, tool call or log output; "
                 f"stuck threshold {p.stuck_seconds:.0f} s)")


def _idle(t: Trajectory, p: GuardianPolicy) -> tuple[float, str] | None:
    # A stuck agent is idle too; say it once.
    if t.activity_count or t.age_seconds < p.idle_seconds or t.seconds_since_progress >= p.stuck_seconds:
        return None
    return 0.3, f"idle: no tool call, event or log output since the task started {t.age_seconds:.0f} s ago"


def _repeated_failures(t: Trajectory) -> tuple[float, str] | None:
    if not t.failures:
        return None
    message, count = Counter(f.strip() for f in t.failures).most_common(1)[0]
    if count < 2:
        return None
    return min(0.4, 0.2 * (count - 1)), f"the same failure {count} times: {message[:200]!r}"


def _outside_outputs(t: Trajectory) -> tuple[float, str] | None:
    stray = outside_expected(t.files_written, t.expected_patterns)
    if not stray:
        return None
    shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
    return min(0.3, 0.1 * len(stray)), f"wrote {len(stray)} file(s) outside the phase's expected outputs: {shown}"


def _denied_tools(t: Trajectory) -> tuple[float, str] | None:
    if not t.denied_tools:
        return None
    names = ", ".join(sorted(set(t.denied_tools)))
    return min(0.45, 0.15 * len(t.denied_tools)), (
        f"called tools denied to its phase {len(t.denied_tools)} time(s): {names}")


def outside_expected(files: tuple[str, ...] | list[str], patterns: tuple[str, ...] | list[str]) -> list[str]:
    """Files matching none of the expected-output globs; a phase that expects nothing constrains nothing."""
    if not patterns:
        return []
    regexes = [glob_regex(p.removeprefix("./")) for p in patterns]
    return sorted({f for f in files if not any(r.match(f.removeprefix("./")) for r in regexes)})


def blend(rule_score: float, judge_score: float, weight: float) -> float:
    """Mix the judge's score into the rules' score; ``weight`` is the judge's share (0–1)."""
    judge = min(1.0, max(0.0, judge_score))
    return round((1.0 - weight) * rule_score + weight * judge, 3)


def misaligned_streak(scores_newest_first: list[float], threshold: float) -> int:
    """How many of the latest assessments in a row were below the threshold."""
    streak = 0
    for score in scores_newest_first:
        if score >= threshold:
            break
        streak += 1
    return streak


def choose_intervention(score: float, streak: int, *, last_note_at: datetime | None, already_diagnosed: bool,
                        now: datetime, policy: GuardianPolicy = GuardianPolicy()) -> str:
    """``streak`` counts this assessment. Diagnose once after enough misalignment; else steer, rate-limited."""
    if score >= policy.aligned_threshold:
        return "none"
    if streak >= policy.diagnose_after and not already_diagnosed:
        return "diagnose"
    if last_note_at is None or now - last_note_at >= timedelta(seconds=policy.note_cooldown_seconds):
        return "steer"
    return "none"


def steering_text(reasons: tuple[str, ...] | list[str], phase_id: str, patterns: tuple[str, ...] = ()) -> str:
    """The note an agent reads on its next tool call."""
    lines = [f"The Guardian thinks your work on {phase_id} has drifted:"]
    lines += [f"- {r}" for r in reasons]
    if patterns:
        lines.append("Your phase expects these outputs: " + ", ".join(patterns) + ".")
    lines.append("Re-read your phase instructions (get_phase_instructions), then continue, or call fail_task "
                 "with the reason if you cannot make progress.")
    return "\n".join(lines)


def misalignment_verdict(ticket_id: int, task_id: int, agent_id: str, phase_id: str, streak: int, score: float,
                         reasons: tuple[str, ...] | list[str]) -> StuckVerdict:
    """The diagnosis the Guardian asks for once an agent stayed misaligned ``streak`` assessments in a row."""
    evidence = [f"agent {agent_id} on task {task_id} ({phase_id}) was misaligned {streak} times in a row "
                f"(latest score {score:.2f})", *reasons]
    return StuckVerdict(ticket_id, AGENT_MISALIGNED, evidence,
                        f"Find out why the work of task {task_id} keeps drifting from {phase_id} (see the evidence): "
                        "unclear instructions, a missing input or a tool the phase lacks. Fix that cause, then "
                        "steer the agent or fail the task so the work is retried.")
