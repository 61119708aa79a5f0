"""PostgreSQL wake-ups: committed events announced by NOTIFY, a burst sharing one."""

from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy.engine import make_url

from phaseloom.db.announcer import EVENT_NOTIFY_CHANNEL, LISTENER_LOCK, START_LISTENING, announcer_for
from phaseloom.db.unit_of_work import UnitOfWork


# NOTIFY is PostgreSQL's: the shared ``db`` fixture, on its PostgreSQL parameter only.
pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _connect(db_url) -> psycopg.Connection:
    return psycopg.connect(make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False),
                           autocommit=True)


@pytest.fixture
def listening(db_url):
    """A connection registered as a listener and LISTENing on the events channel."""
    conn = _connect(db_url)
    for statement in START_LISTENING:
        conn.execute(statement)
    yield conn
    conn.close()


def heard(conn: psycopg.Connection, *, until: str) -> list[str]:
    payloads = []
    for note in conn.notifies(timeout=5):
        payloads.append(note.payload)
        if note.payload == until:
            break
    return payloads


def test_a_commit_with_events_is_announced_with_its_last_event_id(db, listening):
    uow = UnitOfWork(db)
    with uow:
        uow.emit("first.thing", "test", 1)
        uow.emit("second.thing", "test", 2)
    with db.engine.connect() as conn:
        last_id = str(max(conn.exec_driver_sql("SELECT id FROM system_events").scalars()))
    assert heard(listening, until=last_id)[-1] == last_id


def test_a_burst_of_announcements_shares_notifies_and_ends_with_the_latest_id(db, listening):
    announcer = announcer_for(db.engine)
    for event_id in range(1, 201):
        announcer.announce(event_id)
    assert announcer.flush(timeout=5)
    payloads = heard(listening, until="200")
    assert payloads[-1] == "200"
    assert len(payloads) < 20, payloads  # 200 commits, a handful of wake-ups
    assert [int(p) for p in payloads] == sorted(int(p) for p in payloads)


def test_announcing_an_older_id_never_moves_the_announcement_back(db, listening):
    announcer = announcer_for(db.engine)
    announcer.announce(500)
    announcer.announce(499)  # a slower thread's commit, announced late
    assert announcer.flush(timeout=5)
    assert heard(listening, until="500")[-1] == "500"
    assert not list(listening.notifies(timeout=0.3))


def test_a_held_connection_that_died_between_bursts_is_replaced(db, listening):
    announcer = announcer_for(db.engine)
    announcer.announce(7)
    assert announcer.flush(timeout=5)
    # Cut every other connection to this database, the announcer's held one among them.
    listening.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    announcer.announce(8)
    assert announcer.flush(timeout=5)
    assert heard(listening, until="8")[-1] == "8"


def test_a_forked_child_announces_with_its_own_thread(db, listening):
    announcer_for(db.engine).announce(11)  # the parent's thread is running now
    pid = os.fork()
    if pid == 0:  # the child keeps the engine, not its pooled connections (SQLAlchemy's fork recipe)
        db.engine.dispose(close=False)
        child = announcer_for(db.engine)
        child.announce(12)
        os._exit(0 if child.flush(timeout=5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert heard(listening, until="12")[-1] == "12"


def test_the_held_connection_goes_back_to_the_pool_transactional(db, listening, monkeypatch):
    import time

    from phaseloom.db import announcer as announcer_module

    monkeypatch.setattr(announcer_module, "_IDLE_SECONDS", 0.1)
    announcer = announcer_module.PostgresAnnouncer(db.engine)
    announcer.announce(21)
    assert announcer.flush(timeout=5)
    assert heard(listening, until="21")[-1] == "21"
    deadline = time.monotonic() + 5
    while announcer._thread is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert announcer._thread is None  # idle: the thread ended and gave its connection back
    # Every connection the pool now holds (the announcer's among them) is as the pool lends it.
    idle = [db.engine.raw_connection() for _ in range(db.engine.pool.checkedin())]
    try:
        assert idle and not any(c.driver_connection.autocommit for c in idle)
    finally:
        for connection in idle:
            connection.close()


def test_a_unit_of_work_made_before_a_fork_announces_from_the_child(db, listening):
    uow = UnitOfWork(db)
    with uow:
        uow.emit("parent.thing", "test", 1)  # the unit of work now holds the parent's announcer
    pid = os.fork()
    if pid == 0:
        db.engine.dispose(close=False)
        with uow:
            uow.emit("child.thing", "test", 2)
        os._exit(0 if uow._announcer.flush(timeout=5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with db.engine.connect() as conn:
        last_id = str(max(conn.exec_driver_sql("SELECT id FROM system_events").scalars()))
    assert heard(listening, until=last_id)[-1] == last_id


def test_without_a_registered_listener_no_notify_is_sent(db_url, db):
    eavesdropper = _connect(db_url)  # LISTENs without registering: hears only what is sent anyway
    eavesdropper.execute(f"LISTEN {EVENT_NOTIFY_CHANNEL}")
    try:
        announcer = announcer_for(db.engine)
        announcer.announce(31)
        assert announcer.flush(timeout=5)
        assert not list(eavesdropper.notifies(timeout=0.3))
        registered = _connect(db_url)
        for statement in START_LISTENING:
            registered.execute(statement)
        try:
            announcer.announce(32)
            assert announcer.flush(timeout=5)
            assert heard(eavesdropper, until="32")[-1] == "32"  # one registered listener: every listener hears
        finally:
            registered.close()
        _wait_until_unregistered(eavesdropper)
        announcer.announce(33)  # the listener left: its lock went with its connection
        assert announcer.flush(timeout=5)
        assert not list(eavesdropper.notifies(timeout=0.3))
    finally:
        eavesdropper.close()


def _wait_until_unregistered(conn: psycopg.Connection) -> None:
    """A closed connection's backend releases its locks as it exits, a moment after the close."""
    import time

    deadline = time.monotonic() + 5
    while conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
                       (LISTENER_LOCK,)).fetchone()[0]:
        assert time.monotonic() < deadline, "the listener's lock outlived its connection"
        time.sleep(0.02)
