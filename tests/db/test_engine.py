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


# -- autocommit connections (statements that are transactions of their own) -------------------
def autocommit_pid(db: Database) -> int:
    with db.autocommit.connection() as driver:
        assert driver.autocommit is True
        return driver.execute("SELECT pg_backend_pid()").fetchone()[0]


@pytest.fixture
def database_pinging_after(pg_url):
    """``Database.connect`` with an idle-ping threshold; every database made is disposed of."""
    made: list[Database] = []

    def connect(seconds: float) -> Database:
        made.append(Database.connect(pg_url, idle_ping_seconds=seconds))
        return made[-1]

    yield connect
    for db in made:
        db.dispose()


def test_autocommit_connections_are_reused_and_replaced_when_they_died_while_idle(pg_url, database_pinging_after):
    db = database_pinging_after(0.05)
    pid = autocommit_pid(db)
    assert autocommit_pid(db) == pid  # taken from the stack, not made anew
    terminate(pg_url, pid)
    assert autocommit_pid(db) not in (pid, None)  # idle long enough to be pinged: replaced, no error


def test_an_autocommit_connection_that_fails_in_use_is_discarded(pg_url, database_pinging_after):
    import psycopg

    db = database_pinging_after(60)
    pid = autocommit_pid(db)
    terminate(pg_url, pid)
    with pytest.raises(psycopg.OperationalError):
        autocommit_pid(db)
    replacement = autocommit_pid(db)
    assert replacement != pid
    # A statement's own error leaves its connection fit for the next one.
    with pytest.raises(psycopg.errors.DivisionByZero):
        with db.autocommit.connection() as driver:
            driver.execute("SELECT 1 / 0")
    assert autocommit_pid(db) == replacement


def test_sqlite_has_no_autocommit_connections(tmp_path):
    db = Database.connect(f"sqlite:///{tmp_path}/x.db")
    assert db.autocommit is None
    db.dispose()


def test_a_forked_child_makes_its_own_autocommit_connection_and_leaves_the_parents_alone(database_pinging_after):
    import os

    db = database_pinging_after(60)
    parent_pid = autocommit_pid(db)
    child = os.fork()
    if child == 0:
        try:
            ok = autocommit_pid(db) not in (parent_pid, None)
        except BaseException:  # noqa: BLE001 - the child reports through its exit code only
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert autocommit_pid(db) == parent_pid  # the parent's connection was neither used nor closed


def test_a_forked_child_uses_pooled_connections_of_its_own(db):
    """The child queries through the engine without disposing it first; the parent's pooled
    connection still works afterwards (on SQLite and PostgreSQL)."""
    import os

    def session_marker() -> object:
        with db.engine.connect() as conn:
            if db.backend == "postgresql":
                return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            return id(conn.connection.driver_connection)

    parent = session_marker()
    assert db.engine.pool.checkedin() >= 1  # the child inherits a pool that holds a connection
    child = os.fork()
    if child == 0:
        try:
            ok = session_marker() != parent or db.backend == "sqlite"
            with db.engine.connect() as conn:
                ok = ok and conn.execute(text("SELECT 41 + 1")).scalar_one() == 42
        except BaseException:  # noqa: BLE001 - the child reports through its exit code only
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert session_marker() == parent  # the parent's pooled connection is still its own and alive


def test_what_a_database_keeps_is_one_instance_per_database_and_new_for_a_new_one(tmp_path):
    from phaseloom.search import TermStatistics, VectorIndex

    url = f"sqlite:///{tmp_path / 'kept.db'}"
    first, second = Database.connect(url), Database.connect(url)
    try:
        index = first.kept(VectorIndex)
        assert first.kept(VectorIndex) is index                 # kept: built once
        assert isinstance(first.kept(TermStatistics), TermStatistics)
        assert second.kept(VectorIndex) is not index            # another Database (e.g. after TRUNCATE) starts empty
    finally:
        first.dispose()
        second.dispose()
