"""Event buses: how a process learns that new events were committed.

A bus only carries wake-ups; subscribers always read the outbox table from their last id
(see :class:`phaseloom.events.EventHub`). So a bus may drop, repeat or delay a
message, or be down for an hour, and no subscriber misses an event.

- :class:`InProcessBus` wakes listeners in this process when a unit of work attached to it
  commits. The default on SQLite; writes from other processes arrive with the next poll.
- :class:`PostgresBus` also hears PostgreSQL ``NOTIFY``, which every process on PostgreSQL
  sends after committing events (:mod:`phaseloom.db.announcer`, one per burst), so
  every ``serve`` instance and worker on any machine hears every event, whoever wrote it.
- :class:`RedisBus` publishes each commit's last event id on a Redis channel and listens to it
  (``PHASELOOM_EVENT_BUS=redis://…``). Only processes using the bus publish; the poll covers
  the others.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

from phaseloom.config import Settings
from phaseloom.db.engine import Database
from phaseloom.domain.errors import InvalidInput
from phaseloom.db.announcer import START_LISTENING
from phaseloom.db.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Waker = Callable[[], None]
REDIS_CHANNEL = "phaseloom:events"
_RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)


class InProcessBus:
    """Wakes this process's listeners after a commit made through :meth:`unit_of_work`."""

    kind = "inprocess"

    def __init__(self) -> None:
        self._wakers: list[Waker] = []
        self._lock = threading.Lock()

    def add_waker(self, waker: Waker) -> None:
        with self._lock:
            if waker not in self._wakers:
                self._wakers.append(waker)

    def remove_waker(self, waker: Waker) -> None:
        with self._lock:
            if waker in self._wakers:
                self._wakers.remove(waker)

    def attach(self, uow: UnitOfWork) -> UnitOfWork:
        """Have ``uow`` announce its commits on this bus; returns it for chaining."""
        if self.publish not in uow.after_commit:
            uow.after_commit.append(self.publish)
        return uow

    def unit_of_work(self, db: Database, *, readonly: bool = False) -> UnitOfWork:
        return self.attach(UnitOfWork(db, readonly=readonly))

    def publish(self, events: list[dict[str, Any]]) -> None:
        """Called after commit. Never raises: the events are committed whatever happens here."""
        self._wake_local()

    def _wake_local(self) -> None:
        with self._lock:
            wakers = list(self._wakers)
        for waker in wakers:
            try:
                waker()
            except Exception:  # noqa: BLE001 - one broken listener must not stop the others
                log.exception("event listener failed")

    async def listen(self, wake: Waker) -> None:
        """Call ``wake`` whenever another process announces events; runs until cancelled."""

    def close(self) -> None:
        pass


class PostgresBus(InProcessBus):
    """Hears ``NOTIFY phaseloom_events`` from every process writing to the database."""

    kind = "postgresql"

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def listen(self, wake: Waker) -> None:
        import psycopg

        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    for statement in START_LISTENING:  # registers, so that writers NOTIFY at all
                        await conn.execute(statement)
                    failures = 0
                    wake()  # notifications sent while we were not listening are lost: re-read now
                    async for _ in conn.notifies():
                        wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect; the poll covers the gap
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
            await asyncio.sleep(_RECONNECT_DELAYS[min(failures, len(_RECONNECT_DELAYS) - 1)])
            failures += 1


class RedisBus(InProcessBus):
    """Publishes the last event id of each commit on a Redis channel and listens to it."""

    kind = "redis"
    # After a failed publish, writers skip Redis for this long instead of waiting on it each time.
    retry_after_seconds = 5.0

    def __init__(self, redis_url: str, channel: str = REDIS_CHANNEL) -> None:
        import redis

        super().__init__()
        self.url = redis_url
        self.channel = channel
        self._client = redis.Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._down_until = 0.0

    def publish(self, events: list[dict[str, Any]]) -> None:
        self._wake_local()
        if not events or time.monotonic() < self._down_until:
            return
        try:
            self._client.publish(self.channel, str(events[-1]["id"]))
        except Exception as exc:  # noqa: BLE001 - the outbox has the events; subscribers poll
            self._down_until = time.monotonic() + self.retry_after_seconds
            log.warning("cannot publish event wake-up to Redis (%s); subscribers will poll", exc)

    async def listen(self, wake: Waker) -> None:
        import redis.asyncio as aioredis

        failures = 0
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    failures = 0
                    wake()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.warning("Redis subscription lost (%s); reconnecting", exc)
            finally:
                await client.aclose()
            await asyncio.sleep(_RECONNECT_DELAYS[min(failures, len(_RECONNECT_DELAYS) - 1)])
            failures += 1

    def close(self) -> None:
        self._client.close()


def create_event_bus(db: Database, settings: Settings) -> InProcessBus:
    """The bus ``settings.event_bus`` names; by default NOTIFY on PostgreSQL, in-process on SQLite.

    Accepted values: ``""``/``"auto"``, ``"inprocess"``, ``"postgresql"``, or a ``redis://`` URL.
    """
    choice = (settings.event_bus or "").strip()
    if choice.startswith(("redis://", "rediss://", "unix://")):
        return RedisBus(choice)
    if choice in ("", "auto"):
        return PostgresBus(db.url) if db.backend == "postgresql" else InProcessBus()
    if choice == "inprocess":
        return InProcessBus()
    if choice in ("postgresql", "postgres"):
        if db.backend != "postgresql":
            raise InvalidInput("event_bus 'postgresql' needs a PostgreSQL database_url")
        return PostgresBus(db.url)
    raise InvalidInput(f"unknown event_bus {choice!r}; use 'auto', 'inprocess', 'postgresql' or a redis:// URL")
