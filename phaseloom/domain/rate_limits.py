"""Reading how long a provider asked us to wait, from the words an agent CLI printed. Pure text rules.

Providers and CLIs say it many ways: an HTTP ``Retry-After: 30``, "retry after 2.5s", "try again in
20 seconds", "usage limit reached … resets at 2026-12-01T10:00:00Z", "try again at 3:05 PM". The
first one found wins; None means the text said nothing usable (the caller picks a backoff).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

RATE_LIMIT = re.compile(r"\b429\b|rate[\s_-]?limit|usage[\s_-]?limit|too many requests|quota exceeded|"
                        r"overloaded_error|rate_limit_error", re.IGNORECASE)
_UNITS = {"ms": 0.001, "millisecond": 0.001, "s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
          "h": 3600, "hour": 3600}
_AFTER = re.compile(r"retry[\s_-]?after(?:[\s_-]?(ms))?[\"':=\s]+(\d+(?:\.\d+)?)\s*([a-z]+)?", re.IGNORECASE)
_IN = re.compile(r"(?:try again|retry|resets?|available again)\s+in\s+(?:about\s+)?(\d+(?:\.\d+)?)\s*"
                 r"(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?)\b", re.IGNORECASE)
_AT_ISO = re.compile(r"(?:resets?|try again|retry)[^0-9]{0,20}?(?:at\s+)?"
                     r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)", re.IGNORECASE)
_AT_CLOCK = re.compile(r"(?:resets?|try again)\s+at\s+(\d{1,2}):(\d{2})\s*([ap]\.?m\.?)?", re.IGNORECASE)
MAX_WAIT_SECONDS = 24 * 3600.0


def is_rate_limit(text: str) -> bool:
    return bool(RATE_LIMIT.search(text or ""))


def _unit(word: str | None) -> float:
    word = (word or "s").lower().rstrip("s") or "s"
    return _UNITS.get(word, _UNITS.get(word[:3], 1.0))


def _clamp(seconds: float) -> float:
    return min(max(0.0, seconds), MAX_WAIT_SECONDS)


def retry_after_seconds(text: str, now: datetime | None = None) -> float | None:
    """The wait the text asks for, in seconds (at most a day), or None."""
    now = now or datetime.now(timezone.utc)
    if m := _AFTER.search(text):
        return _clamp(float(m.group(2)) * (0.001 if m.group(1) else _unit(m.group(3))))
    if m := _IN.search(text):
        return _clamp(float(m.group(1)) * _unit(m.group(2)))
    if m := _AT_ISO.search(text):
        try:
            at = datetime.fromisoformat(m.group(1).replace("Z", "+00:00").replace(" ", "T"))
        except ValueError:
            at = None
        if at is not None:
            at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
            return _clamp((at - now).total_seconds())
    if m := _AT_CLOCK.search(text):
        return _clamp(_until_clock(int(m.group(1)), int(m.group(2)), m.group(3), now))
    return None


def _until_clock(hour: int, minute: int, meridiem: str | None, now: datetime) -> float:
    """Seconds until the next ``hour:minute`` (a CLI prints local time; this machine's UTC is our best guess)."""
    if meridiem:
        hour = hour % 12 + (12 if meridiem.lower().startswith("p") else 0)
    at = now.replace(hour=hour % 24, minute=minute % 60, second=0, microsecond=0)
    if at <= now:
        at += timedelta(days=1)
    return (at - now).total_seconds()
