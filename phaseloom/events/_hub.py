"""Fanning committed events out to live subscribers.

The ``system_events`` table is the only source of truth. A bus (see
:mod:`phaseloom.events._buses`) merely *wakes* the :class:`EventHub`, which then reads
the table from the last id it saw (through :class:`phaseloom.events._outbox.EventLog`); so a lost
wake-up costs latency, never an event, and a periodic poll catches whatever no bus announced
(another process on SQLite, a broker outage).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from phaseloom.db.engine import Database
from phaseloom.events._buses import InProcessBus
from phaseloom.events._outbox import EventFilter, EventLog
from phaseloom.db.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class Subscription:
    """One live subscriber: a filter and a bounded queue the hub fills without ever waiting."""

    def __init__(self, event_filter: EventFilter, queue_size: int) -> None:
        self.filter = event_filter
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        # While a subscriber reads its backlog from the table, the hub leaves it alone;
        # the subscriber re-reads once after switching to live, so nothing falls in between.
        self.catching_up = True
        self.dropped = asyncio.Event()

    def offer(self, event: dict[str, Any]) -> bool:
        """Queue an event; False (and marked dropped) when the subscriber fell too far behind."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped.set()
            return False
        return True


class EventHub:
    """Reads new outbox rows once per wake-up and hands them to every matching subscriber.

    One table read serves all subscribers of the process. The hub runs on the event loop it
    was started from; :meth:`wake` may be called from any thread.
    """

    def __init__(self, db: Database, bus=None, *, poll_seconds: float = 1.0, batch_size: int = 500) -> None:
        self.db = db
        self.bus = bus or InProcessBus()
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.last_id = 0
        self.subscriptions: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._ready: asyncio.Event | None = None

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Start reading (idempotent); returns once the hub knows where the table ends."""
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._tasks:
            await self._ready.wait()
            return
        self._loop, self._wakeup, self._ready = loop, asyncio.Event(), asyncio.Event()
        self.subscriptions = set()
        self.bus.add_waker(self.wake)
        self._tasks = [loop.create_task(self._run()), loop.create_task(self.bus.listen(self.wake))]
        await self._ready.wait()

    async def stop(self) -> None:
        self.bus.remove_waker(self.wake)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.bus.close()

    def wake(self) -> None:
        """Ask the hub to read the table now. Safe from any thread."""
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(wakeup.set)
        except RuntimeError:  # the loop shut down between the check and the call
            pass

    # -- subscribers ----------------------------------------------------------------
    def subscribe(self, event_filter: EventFilter, queue_size: int = 1000) -> Subscription:
        sub = Subscription(event_filter, queue_size)
        self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)

    async def read(self, since_id: int, event_filter: EventFilter | None, limit: int) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._read, since_id, event_filter, limit)

    async def latest_id(self) -> int:
        return await asyncio.to_thread(lambda: EventLog(UnitOfWork(self.db, readonly=True)).latest_id())

    def _read(self, since_id: int, event_filter: EventFilter | None, limit: int) -> list[dict[str, Any]]:
        return EventLog(UnitOfWork(self.db, readonly=True)).events_since(since_id, event_filter, limit)

    # -- the loop -------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._ready.is_set():
            try:
                self.last_id = await self.latest_id()
                self._ready.set()
            except Exception:  # noqa: BLE001 - database unreachable: keep trying, never crash the server
                log.exception("event hub cannot read the outbox; retrying")
                await asyncio.sleep(self.poll_seconds)
        while True:
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            self._wakeup.clear()
            try:
                await self._drain()
            except Exception:  # noqa: BLE001
                log.exception("event hub read failed; will retry")

    async def _drain(self) -> None:
        while True:
            batch = await self.read(self.last_id, None, self.batch_size)
            for event in batch:
                self._dispatch(event)
                self.last_id = event["id"]
            if len(batch) < self.batch_size:
                return

    def _dispatch(self, event: dict[str, Any]) -> None:
        for sub in list(self.subscriptions):
            if sub.catching_up or not sub.filter.matches(event):
                continue
            if not sub.offer(event):
                self.subscriptions.discard(sub)


class EventStream:
    """What one client sees: the events after ``since`` from the table, then live ones.

    No duplicates and no gaps: the subscription is registered before the backlog is read,
    and live events at or below the last id already delivered are skipped.
    """

    def __init__(self, hub: EventHub, event_filter: EventFilter, since: int | None = None,
                 *, queue_size: int = 1000) -> None:
        self.hub = hub
        self.filter = event_filter
        self.cursor = since
        self.subscription = hub.subscribe(event_filter, queue_size)

    @property
    def dropped(self) -> asyncio.Event:
        return self.subscription.dropped

    async def backlog(self) -> AsyncIterator[dict[str, Any]]:
        """Yield the missed events in order; afterwards :meth:`next_live` continues from them."""
        if self.cursor is None:
            self.cursor = await self.hub.latest_id()
        limit = self.hub.batch_size
        while True:
            batch = await self.hub.read(self.cursor, self.filter, limit)
            for event in batch:
                self.cursor = event["id"]
                yield event
            if len(batch) < limit:
                if not self.subscription.catching_up:
                    return
                self.subscription.catching_up = False

    async def next_live(self, timeout: float) -> dict[str, Any] | None:
        """The next new event, or None when ``timeout`` seconds pass without one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        queue = self.subscription.queue
        while True:
            try:
                event = queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                try:
                    event = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    return None
            if event["id"] > self.cursor:
                self.cursor = event["id"]
                return event

    def close(self) -> None:
        self.hub.unsubscribe(self.subscription)
