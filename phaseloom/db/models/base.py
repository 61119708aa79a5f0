from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from phaseloom.db.types import ReadableJSON, UTCDateTime
from phaseloom.domain.clock import utcnow  # noqa: F401 - re-exported: the models' and services' clock

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        # Read back encodable even from rows stored before values were checked: db/types.py.
        dict[str, Any]: ReadableJSON(),
        list[Any]: ReadableJSON(),
        list[str]: ReadableJSON(),
        # Aware UTC on every backend (SQLite alone would read naive datetimes back): db/types.py.
        datetime: UTCDateTime(),
    }
