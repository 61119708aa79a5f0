"""The outbox reader, the hub's fan-out, and each bus waking the hub (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from phaseloom.domain.errors import InvalidInput
from phaseloom.events import EventFilter, EventHub, EventLog, EventStream, InProcessBus, PostgresBus, RedisBus, create_event_bus
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork

# Long enough that only a bus wake-up, never the catch-up poll, can deliver within the test's wait.
NO_POLL = 60.0


def write_event(db, event_type="test.happened", *, bus=None, **where) -> None:
    uow = UnitOfWork(db)
    if bus is not None:
        bus.attach(uow)
    with uow:
        uow.emit(event_type, "thing", 1, **where)


async def next_event(stream: EventStream, timeout: float = 5.0) -> dict:
    event = await stream.next_live(timeout)
    assert event is not None, f"no event within {timeout}s"
    return event


# -- reading the outbox --------------------------------------------------------------
def test_events_since_returns_a_ticket_transition_in_order(uow, project):
    ticket = TicketService(uow).create_ticket("demo", "Add login")
    TicketService(uow).transition(ticket.id, "PHASE_REQUIREMENTS")
    events = EventLog(uow).events_since(0, EventFilter(ticket_id=ticket.id))
    types = [e["event_type"] for e in events]
    assert types[0] == "ticket.created"
    assert "ticket.status_transitioned" in types
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert all(e["ticket_id"] == ticket.id for e in events)


def test_events_since_filters_and_limits(db):
    write_event(db, "a.one", project_id=1, ticket_id=10, phase_id="P1")
    write_event(db, "a.two", project_id=1, ticket_id=11, phase_id="P2")
    write_event(db, "a.one", project_id=2, ticket_id=20, phase_id="P1")
    log = EventLog(UnitOfWork(db))
    everything = log.events_since(0)
    assert [e["event_type"] for e in everything] == ["a.one", "a.two", "a.one"]
    first = everything[0]["id"]
    assert [e["ticket_id"] for e in log.events_since(0, EventFilter(project_id=1))] == [10, 11]
    assert [e["ticket_id"] for e in log.events_since(0, EventFilter(phase_id="P1"))] == [10, 20]
    assert [e["ticket_id"] for e in log.events_since(0, EventFilter.build(types="a.two, nope"))] == [11]
    assert [e["ticket_id"] for e in log.events_since(first, EventFilter(ticket_id=20))] == [20]
    assert [e["ticket_id"] for e in log.events_since(first)] == [11, 20]
    assert [e["ticket_id"] for e in log.events_since(0, limit=2)] == [10, 11]
    assert log.latest_id() == everything[-1]["id"]
    with pytest.raises(InvalidInput):
        log.events_since(-1)
    with pytest.raises(InvalidInput):
        log.events_since(0, limit=0)


def test_filter_matches_like_the_query():
    event = {"project_id": 1, "ticket_id": 2, "phase_id": "P", "event_type": "x.y"}
    assert EventFilter().matches(event)
    assert EventFilter.build(project_id=1, ticket_id=2, phase_id="P", types=["x.y"]).matches(event)
    assert not EventFilter(project_id=3).matches(event)
    assert not EventFilter.build(types="x.z").matches(event)


def test_the_default_bus_follows_the_backend(db):
    from phaseloom.config import Settings

    bus = create_event_bus(db, Settings(event_bus=""))
    assert isinstance(bus, PostgresBus if db.backend == "postgresql" else InProcessBus)
    assert isinstance(create_event_bus(db, Settings(event_bus="redis://127.0.0.1:6379/0")), RedisBus)
    with pytest.raises(InvalidInput):
        create_event_bus(db, Settings(event_bus="carrier-pigeon://"))


# -- the hub ---------------------------------------------------------------------------
async def _hub(db, bus, *, poll=NO_POLL, batch_size=500) -> EventHub:
    hub = EventHub(db, bus, poll_seconds=poll, batch_size=batch_size)
    await hub.start()
    return hub


def test_in_process_commit_wakes_the_hub_at_once(db):
    async def scenario():
        bus = InProcessBus()
        hub = await _hub(db, bus)
        stream = EventStream(hub, EventFilter())
        assert [e async for e in stream.backlog()] == []
        await asyncio.to_thread(write_event, db, "live.one", bus=bus)
        event = await next_event(stream, timeout=3)
        await hub.stop()
        return event

    assert asyncio.run(scenario())["event_type"] == "live.one"


def test_stream_replays_the_gap_then_goes_live_without_duplicates(db):
    async def scenario():
        bus = InProcessBus()
        for n in range(5):
            write_event(db, f"old.{n}", project_id=1 if n % 2 == 0 else 2)
        hub = await _hub(db, bus, batch_size=2)  # small pages: the replay crosses several reads
        stream = EventStream(hub, EventFilter(project_id=1), since=0)
        replayed = [e async for e in stream.backlog()]
        await asyncio.to_thread(write_event, db, "new.0", bus=bus, project_id=2)
        await asyncio.to_thread(write_event, db, "new.1", bus=bus, project_id=1)
        live = await next_event(stream)
        nothing = await stream.next_live(0.3)
        await hub.stop()
        return replayed, live, nothing

    replayed, live, nothing = asyncio.run(scenario())
    assert [e["event_type"] for e in replayed] == ["old.0", "old.2", "old.4"]
    assert live["event_type"] == "new.1"
    assert nothing is None


def test_a_subscriber_that_falls_behind_is_dropped_and_others_are_not(db):
    async def scenario():
        bus = InProcessBus()
        hub = await _hub(db, bus)
        slow = EventStream(hub, EventFilter(), queue_size=3)
        fast = EventStream(hub, EventFilter(), queue_size=100)
        for stream in (slow, fast):
            assert [e async for e in stream.backlog()] == []
        uow = bus.attach(UnitOfWork(db))
        with uow:
            for n in range(10):
                uow.emit(f"burst.{n}", "thing", n)
        received = [(await next_event(fast))["event_type"] for _ in range(10)]
        await asyncio.wait_for(slow.dropped.wait(), 3)
        await hub.stop()
        return received, slow.subscription in hub.subscriptions

    received, slow_still_subscribed = asyncio.run(scenario())
    assert received == [f"burst.{n}" for n in range(10)]
    assert not slow_still_subscribed


def test_poll_catches_events_no_bus_announced(db):
    async def scenario():
        hub = await _hub(db, InProcessBus(), poll=0.1)
        stream = EventStream(hub, EventFilter())
        [e async for e in stream.backlog()]
        await asyncio.to_thread(write_event, db, "silent.write")  # like another process: no bus
        event = await next_event(stream, timeout=3)
        await hub.stop()
        return event

    assert asyncio.run(scenario())["event_type"] == "silent.write"


def test_postgres_notify_wakes_a_listener_for_a_write_without_bus(db):
    if db.backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only")

    async def scenario():
        hub = await _hub(db, PostgresBus(db.url))
        stream = EventStream(hub, EventFilter())
        [e async for e in stream.backlog()]
        await asyncio.sleep(0.3)  # let LISTEN get going; a NOTIFY before that is covered by the poll only
        await asyncio.to_thread(write_event, db, "notified.write")
        event = await next_event(stream, timeout=3)
        await hub.stop()
        return event

    assert asyncio.run(scenario())["event_type"] == "notified.write"


def test_redis_bus_wakes_a_listener_in_another_bus(db, redis_url):
    async def scenario():
        hub = await _hub(db, RedisBus(redis_url))
        stream = EventStream(hub, EventFilter())
        [e async for e in stream.backlog()]
        await asyncio.sleep(0.3)  # let SUBSCRIBE get going
        writer_bus = RedisBus(redis_url)  # stands for another process
        await asyncio.to_thread(write_event, db, "redis.write", bus=writer_bus)
        event = await next_event(stream, timeout=3)
        await hub.stop()
        writer_bus.close()
        return event

    assert asyncio.run(scenario())["event_type"] == "redis.write"


def test_a_down_broker_loses_nothing(db):
    async def scenario():
        hub = await _hub(db, RedisBus("redis://127.0.0.1:1/0"), poll=0.2)
        stream = EventStream(hub, EventFilter())
        [e async for e in stream.backlog()]
        writer_bus = RedisBus("redis://127.0.0.1:1/0")
        for n in range(3):  # publishing fails; the commit must not
            await asyncio.to_thread(write_event, db, f"unannounced.{n}", bus=writer_bus)
        events = [await next_event(stream, timeout=3) for _ in range(3)]
        await hub.stop()
        return events

    assert [e["event_type"] for e in asyncio.run(scenario())] == [f"unannounced.{n}" for n in range(3)]
