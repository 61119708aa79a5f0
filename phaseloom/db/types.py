"""Column types shared by the models: timestamps that are aware UTC datetimes on every backend.

SQLite has no time zones: SQLAlchemy's ``DateTime(timezone=True)`` stores the wall-clock digits
(dropping any offset) and reads them back naive. PostgreSQL's ``timestamptz`` reads back aware,
but in the connection's ``TimeZone``. Either way a timestamp could leave the process without an
offset (``2026-05-01T12:00:00``, which JSON Schema's ``date-time`` format and so MCP clients
refuse) or with a server-dependent one. :class:`UTCDateTime` makes both backends agree: it
stores UTC and always returns aware UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, DateTime
from sqlalchemy.types import TypeDecorator

from phaseloom.domain.json_values import readable_copy

# UTC under a zone's name: psycopg reads PostgreSQL's usual ``TimeZone = 'Etc/UTC'`` as
# ``ZoneInfo('Etc/UTC')``. Such a datetime is UTC already (it prints ``+00:00``, or ``Z`` through
# pydantic); converting it would cost a microsecond per value, on every row of every query.
_UTC_ZONES = frozenset({ZoneInfo("UTC"), ZoneInfo("Etc/UTC")})


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken to be UTC already (as stored)."""
    zone = moment.tzinfo
    if zone is timezone.utc or zone in _UTC_ZONES:
        return moment
    if zone is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp column: written as UTC, read as an aware UTC datetime, on SQLite and PostgreSQL.

    The column itself is a plain ``DateTime(timezone=True)`` (``timestamptz`` on PostgreSQL,
    ``DATETIME`` on SQLite), so the schema, the migrations and the stored text are unchanged.
    Writing UTC matters on SQLite: an aware value with another offset would otherwise be stored
    as its local wall-clock time, and string comparisons against UTC values would be wrong.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    @property
    def python_type(self) -> type:
        return datetime


class ReadableJSON(TypeDecorator):
    """A JSON column whose values always read back encodable (a JSON response, an MCP result).

    Values are checked before they are written (:func:`phaseloom.domain.json_values.json_problem`),
    but rows written before that check may hold a lone surrogate, NaN or a 300-level nesting, and
    every page showing such a row would fail. Reading repairs the copy (never the row). The column
    is a plain ``JSON`` one: schema and migrations are unchanged.
    """

    impl = JSON
    cache_ok = True

    def process_result_value(self, value, dialect):
        return None if value is None else readable_copy(value)
