"""The one clock: the current time as an aware UTC datetime, how every stored timestamp is taken."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
