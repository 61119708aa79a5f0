"""Timestamps are stored as UTC and read back as aware UTC datetimes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from phaseloom.db.engine import Database
from phaseloom.db.models import SystemEvent
from phaseloom.db.types import as_utc
from phaseloom.services.auth import AuthService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork

INDIA = timezone(timedelta(hours=5, minutes=30))
NOON_UTC = datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)


def write_event(uow: UnitOfWork, created_at: datetime) -> int:
    with uow:
        event = SystemEvent(event_type="clock.test", entity_type="thing", entity_id="1", payload={},
                            created_at=created_at)
        uow.session.add(event)
        uow.session.flush()
        return event.id


def read_event(db: Database, event_id: int) -> datetime:
    with UnitOfWork(db) as uow:  # a new session: the value comes from the database, not the instance
        return uow.session.get(SystemEvent, event_id).created_at


def assert_utc(moment: datetime) -> None:
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0), moment


def test_a_naive_datetime_is_read_back_aware_in_utc(db, uow):
    event_id = write_event(uow, NOON_UTC.replace(tzinfo=None))
    read = read_event(db, event_id)
    assert_utc(read)
    assert read == NOON_UTC


def test_an_aware_datetime_in_another_zone_is_stored_as_utc(db, uow):
    event_id = write_event(uow, NOON_UTC.astimezone(INDIA))
    read = read_event(db, event_id)
    assert_utc(read)
    assert read == NOON_UTC and read.isoformat() == "2026-05-01T12:00:00.250000+00:00"
    with db.engine.connect() as conn:
        stored = select(SystemEvent.created_at).where(SystemEvent.id == event_id)
        if db.backend == "sqlite":  # SQLite keeps the digits it is given: they must be UTC's
            assert conn.scalar(text("SELECT created_at FROM system_events WHERE id = :i"), {"i": event_id}
                               ).startswith("2026-05-01 12:00:00")
        else:
            assert conn.scalar(select(func.timezone("UTC", stored.scalar_subquery()))) == datetime(
                2026, 5, 1, 12, 0, 0, 250_000)


def test_comparisons_with_values_in_another_zone_compare_instants(db, uow):
    # On SQLite a comparison is one of text: it holds only if both sides were written in UTC.
    event_id = write_event(uow, NOON_UTC)
    half_past_noon_utc_in_india = datetime(2026, 5, 1, 18, 0, tzinfo=INDIA)
    with UnitOfWork(db) as reader:
        before = reader.session.scalars(select(SystemEvent.id).where(
            SystemEvent.created_at < half_past_noon_utc_in_india)).all()
        after = reader.session.scalars(select(SystemEvent.id).where(
            SystemEvent.created_at > half_past_noon_utc_in_india - timedelta(hours=1))).all()
    assert before == [event_id] and after == [event_id]


def test_as_utc_converts_and_keeps_utc():
    assert as_utc(NOON_UTC) is NOON_UTC
    assert as_utc(NOON_UTC.replace(tzinfo=None)) == NOON_UTC
    converted = as_utc(NOON_UTC.astimezone(INDIA))
    assert converted == NOON_UTC and converted.tzinfo is timezone.utc


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_postgres_session_in_another_time_zone_still_reads_utc(db, uow, project):
    """The ORM and the queue's driver statements (claim RETURNING, its event) alike."""
    ticket = TicketService(uow).create_ticket(project.id, "Clock")
    task = QueueService(uow).create_task(ticket.id, "PHASE_BACKLOG", "Tell the time")
    agent, _ = AuthService(uow).register_agent("timekeeper", agent_type="worker")
    india_url = make_url(db.url).update_query_dict({"options": "-c TimeZone=Asia/Kolkata"})
    india = Database.connect(india_url.render_as_string(hide_password=False))
    try:
        with india.engine.connect() as conn:
            assert conn.scalar(text("SHOW TimeZone")) == "Asia/Kolkata"
            raw = conn.exec_driver_sql("SELECT created_at FROM tasks WHERE id = %(id)s", {"id": task.id}).scalar()
            assert raw.utcoffset() == timedelta(hours=5, minutes=30)  # what the driver alone gives
        delivered: list[dict] = []
        queue = UnitOfWork(india)
        queue.after_commit.append(delivered.extend)
        claimed = QueueService(queue).claim_next_task(agent.id, lease_seconds=60)
        loaded = read_event(india, write_event(UnitOfWork(india), NOON_UTC))
    finally:
        india.dispose()
    assert claimed.id == task.id
    for moment in (claimed.claimed_at, claimed.lease_expires_at, claimed.created_at, loaded):
        assert_utc(moment)
    assert [e["event_type"] for e in delivered] == ["task.assigned"]
    assert delivered[0]["created_at"].endswith("+00:00"), delivered
