"""Failure classes: whether a task's error is worth retrying.

A failure is ``retryable`` (the same attempt may well succeed later: rate limits, timeouts,
dropped connections) or ``permanent`` (retrying repeats the same mistake: bad input, missing
permissions, a thing that does not exist). Rules are regular expressions tried in order and
the first match wins; workflow- or phase-specific rules are tried before the defaults. An
error no rule recognises is retryable, because giving up on a transient error loses work
while one extra attempt at a permanent one only costs a little time.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from phaseloom.domain.errors import InvalidInput


class FailureClass(str, enum.Enum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class FailureRule:
    pattern: str
    failure_class: FailureClass

    def matches(self, error: str) -> bool:
        return _compiled(self.pattern).search(error) is not None


@dataclass(frozen=True)
class Classification:
    failure_class: FailureClass
    rule: FailureRule | None  # None: no rule matched, the unknown-error default applied

    @property
    def retryable(self) -> bool:
        return self.failure_class is FailureClass.RETRYABLE

    @property
    def reason(self) -> str:
        if self.rule is None:
            return f"{self.failure_class.value}: unrecognised error, retried by default"
        return f"{self.failure_class.value}: matched {self.rule.pattern!r}"


def _rules(failure_class: FailureClass, patterns: Iterable[str]) -> tuple[FailureRule, ...]:
    return tuple(FailureRule(p, failure_class) for p in patterns)


# Transient signals come first: "403 rate limit exceeded" is a rate limit, not a permission error.
DEFAULT_RULES: tuple[FailureRule, ...] = _rules(FailureClass.RETRYABLE, (
    r"rate[\s_-]?limit", r"too many requests", r"\b429\b", r"quota exceeded", r"overloaded",
    r"time[sd]?[\s_-]?out", r"deadline exceeded", r"lease expired",
    r"connection (?:reset|refused|aborted|error|closed)", r"econn(?:reset|refused)", r"broken pipe",
    r"temporar(?:il)?y unavailable", r"service unavailable", r"\b50[234]\b", r"network (?:is )?unreachable",
)) + _rules(FailureClass.PERMANENT, (
    r"bad (?:input|request)", r"invalid (?:input|argument|request|parameter)", r"validation error",
    r"\b400\b", r"\b422\b", r"permission denied", r"access denied", r"forbidden", r"unauthori[sz]ed",
    r"\b40[13]\b", r"not found", r"no such (?:file|directory|phase|task|ticket)", r"\b404\b",
))


def rules_from_config(config: Mapping | None) -> tuple[FailureRule, ...]:
    """Rules from a ``failure_patterns: {retryable: [...], permanent: [...]}`` mapping.

    Raises :class:`InvalidInput` for a pattern that is not a valid regular expression.
    """
    if not config:
        return ()
    rules: list[FailureRule] = []
    for failure_class in FailureClass:
        for pattern in config.get(failure_class.value, []) or []:
            try:
                _compiled(str(pattern))
            except re.error as exc:
                raise InvalidInput(f"failure pattern {pattern!r} is not a valid regular expression: {exc}") from None
            rules.append(FailureRule(str(pattern), failure_class))
    return tuple(rules)


def classify_failure(error: str, extra_rules: Iterable[FailureRule] = ()) -> Classification:
    """Classify ``error``: ``extra_rules`` first, then :data:`DEFAULT_RULES`; unknown is retryable."""
    for rule in (*extra_rules, *DEFAULT_RULES):
        if rule.matches(error or ""):
            return Classification(rule.failure_class, rule)
    return Classification(FailureClass.RETRYABLE, None)


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)
