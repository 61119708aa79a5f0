"""Announcing committed events on PostgreSQL: ``NOTIFY`` from a background thread, coalesced.

A unit of work that committed events hands the last event id to its database's
:class:`PostgresAnnouncer` and returns at once. The announcer's thread sends one
``NOTIFY phaseloom_events, '<id>'`` for however many commits arrived since its previous one, so
a busy worker pays neither a connection checkout nor a round trip per commit, and listeners
wake once per burst instead of once per commit. Listeners read the outbox from their own last
id, so announcing only the latest id loses nothing.

Why not NOTIFY inside the writing transaction: PostgreSQL serialises the commits of all
transactions that NOTIFY, which would cap the whole system at one commit at a time.

Nobody listening, no NOTIFY: a ``NOTIFY`` is a transaction with an id of its own, so it writes a
commit record and waits for the WAL flush like any write. Listeners register by holding a shared
session advisory lock (:data:`LISTENER_LOCK`, taken *before* ``LISTEN`` and before their first
read of the outbox), and the announcer's one statement notifies only while such a lock is held.
A listener that registers after that check reads the events in question on its first read.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref

from sqlalchemy import Engine

log = logging.getLogger(__name__)

EVENT_NOTIFY_CHANNEL = "phaseloom_events"
# Any constant works; it only has to be the same in every process (and differ from
# unit_of_work.EVENT_ORDER_LOCK).
LISTENER_LOCK = 0x7068_6C69  # "phli"
# Run in this order on a listener's autocommit connection, before its first read of the outbox.
START_LISTENING = (f"SELECT pg_advisory_lock_shared({LISTENER_LOCK})", f"LISTEN {EVENT_NOTIFY_CHANNEL}")
# A one-bigint advisory lock shows in pg_locks as classid 0 (high half), objid (low half), objsubid 1.
_NOTIFY_IF_LISTENED = (
    "SELECT pg_notify(%(channel)s, %(payload)s) WHERE EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory'"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    f" AND classid = 0 AND objid = {LISTENER_LOCK} AND objsubid = 1)")
_IDLE_SECONDS = 2.0  # the thread (and its pooled connection) goes away after this long without events
_MIN_GAP_SECONDS = 0.05  # at most one NOTIFY per this interval: the commits of a burst share one


class PostgresAnnouncer:
    """Sends the latest committed event id on :data:`EVENT_NOTIFY_CHANNEL`, one ``NOTIFY`` per burst
    while a listener is registered."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._changed = threading.Condition(threading.Lock())
        self._latest = 0  # the newest id handed to announce()
        self._sent = 0  # the newest id a NOTIFY carried (or that was given up on)
        self._thread: threading.Thread | None = None

    def announce(self, last_id: int) -> None:
        """Schedule a ``NOTIFY`` carrying ``last_id`` (or a later id); never blocks on the database."""
        with self._changed:
            self._latest = max(self._latest, int(last_id))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="phaseloom-notify", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def start_afresh_after_fork(self) -> None:
        """In a forked child: the parent's thread does not exist here, and its lock may have been
        held at the fork."""
        self._changed = threading.Condition(threading.Lock())
        self._thread = None

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until every announced id was sent; False when ``timeout`` ran out first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._sent >= self._latest, timeout)

    def _run(self) -> None:
        connection = None  # one pooled connection, held while events keep coming
        try:
            while True:
                with self._changed:
                    if not self._changed.wait_for(lambda: self._latest > self._sent, _IDLE_SECONDS):
                        self._thread = None
                        return
                    target = self._latest
                connection = self._send(connection, target)
                with self._changed:
                    self._sent = max(self._sent, target)
                    self._changed.notify_all()
                # Commits arriving in the meantime share the next NOTIFY.
                time.sleep(_MIN_GAP_SECONDS)
        finally:
            if connection is not None:
                _return_to_pool(connection)

    def _send(self, connection, last_id: int):
        """NOTIFY on ``connection`` (a new one when None); returns the connection to reuse, or None.

        A held connection that fails (the server restarted while it sat between bursts) is
        replaced once before giving up.
        """
        for attempt in ("held", "fresh") if connection is not None else ("fresh",):
            try:
                if connection is None:
                    connection = self._engine.raw_connection()
                    # One round trip per NOTIFY instead of BEGIN, NOTIFY and COMMIT.
                    connection.driver_connection.autocommit = True
                connection.driver_connection.execute(
                    _NOTIFY_IF_LISTENED, {"channel": EVENT_NOTIFY_CHANNEL, "payload": str(last_id)})
                return connection
            except Exception:  # noqa: BLE001 - the events are committed; delivery falls back to polling
                if connection is not None:
                    connection.invalidate()
                connection = None
                if attempt == "fresh":
                    log.warning("could not NOTIFY %s; listeners will catch up by polling", EVENT_NOTIFY_CHANNEL)
        return None


def _return_to_pool(connection) -> None:
    """Give the held connection back as the pool lent it (not in autocommit mode)."""
    try:
        connection.driver_connection.autocommit = False
    except Exception:  # noqa: BLE001 - a connection that cannot be reset is not fit for reuse
        connection.invalidate()
    connection.close()


_ANNOUNCERS: weakref.WeakKeyDictionary[Engine, PostgresAnnouncer] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def announcer_for(engine: Engine) -> PostgresAnnouncer:
    """The one announcer of ``engine`` in this process."""
    with _REGISTRY_LOCK:
        announcer = _ANNOUNCERS.get(engine)
        if announcer is None:
            announcer = _ANNOUNCERS[engine] = PostgresAnnouncer(engine)
        return announcer


def _start_afresh_after_fork() -> None:
    """A forked child has none of its parent's threads; its announcers (which units of work
    may hold) start their own on the next announcement, with a connection of the child's."""
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for announcer in list(_ANNOUNCERS.values()):
        announcer.start_afresh_after_fork()


os.register_at_fork(after_in_child=_start_afresh_after_fork)


@atexit.register
def _flush_all() -> None:
    """A short-lived process (a CLI command) still announces what it committed before it exits."""
    for announcer in list(_ANNOUNCERS.values()):
        announcer.flush(timeout=1.0)
