"""Engines: PostgreSQL pooled connections are tested after sitting idle, not on every checkout."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from phaseloom.db.engine import Database


def backend_pid(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(url: str, pid: int) -> None:
    admin = Database.connect(url)
    try:
        with admin.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.commit()
    finally:
        admin.dispose()
    time.sleep(0.1)


def test_a_connection_that_died_while_idle_is_replaced_before_use(pg_url):
    db = Database.connect(pg_url, idle_ping_seconds=0.05)
    try:
        pid = backend_pid(db)
        terminate(pg_url, pid)
        assert backend_pid(db) != pid  # the checkout's ping found it dead: a new connection, no error
    finally:
        db.dispose()


def test_a_connection_used_moments_ago_is_not_pinged_and_a_failure_renews_the_pool(pg_url):
    db = Database.connect(pg_url, idle_ping_seconds=60)
    try:
        pid = backend_pid(db)
        terminate(pg_url, pid)
        # Not idle long enough to be pinged: the dead connection is handed out and the query fails ...
        with pytest.raises(OperationalError):
            backend_pid(db)
        # ... which makes SQLAlchemy drop the pool's connections, so the next use just works.
        assert backend_pid(db) != pid
    finally:
        db.dispose()
