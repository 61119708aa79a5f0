"""The ticket use-cases write the same rows through ``sqlite3`` (the CLI's quick writes) as through the ORM."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from phaseloom.db.engine import Database
from phaseloom.db.quick_writes import SqliteUnitOfWork
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain.errors import PhaseloomError
from phaseloom.services.tickets import TicketService

on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # quick writes are for SQLite files

TABLES = {"tickets": "id", "phase_history": "id", "system_events": "id",
          "ticket_dependencies": "ticket_id, blocked_by_id"}
TIMESTAMPS = {"created_at", "updated_at", "completed_at"}
STORED_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")  # SQLAlchemy's text form on SQLite


def scenario(tickets: TicketService) -> list[str]:
    """Creations, moves (to DONE, releasing a dependent), blocks, WIP refusals and forced moves, bad input:
    each step's outcome, a view or an error's message."""
    steps = [
        lambda: tickets.create_ticket("demo", "first", description="the first one", priority="high"),
        lambda: tickets.create_ticket("demo", "second", blocked_by=[1]),
        lambda: tickets.create_ticket("1", "third", blocked_by=[1, 2], initiated_by="alice"),
        lambda: tickets.create_ticket("demo", "  "),
        lambda: tickets.create_ticket("nope", "x"),
        lambda: tickets.create_ticket("demo", "x", blocked_by=[99]),
        lambda: tickets.transition(1, "PHASE_TESTING"),
        lambda: tickets.block(2, "waiting for a vendor"),
        lambda: tickets.block(2, "again"),
        lambda: tickets.unblock(2, reason="vendor answered"),
        lambda: tickets.unblock(1),
        *[lambda phase=phase: tickets.transition(1, phase, reason="on") for phase in (
            "PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION", "PHASE_TESTING", "PHASE_DEPLOYMENT",
            "PHASE_DONE")],
        *[lambda: tickets.create_ticket("demo", "filler") for _ in range(5)],
        *[lambda n=n: tickets.transition(n, "PHASE_REQUIREMENTS") for n in range(2, 9)],
        lambda: tickets.transition(8, "PHASE_REQUIREMENTS", force=True, initiated_by="bob"),
        lambda: tickets.transition(99, "PHASE_REQUIREMENTS"),
        lambda: tickets.get(3),
        lambda: tickets.list("demo", phase_id="PHASE_REQUIREMENTS", priority="medium"),
        lambda: tickets.history(2),
    ]
    outcomes = []
    for step in steps:
        try:
            outcome = step()
        except PhaseloomError as error:
            outcome = f"{type(error).__name__}: {error}"
        if isinstance(outcome, list):  # history rows: the ORM's objects or plain ones, compared by value
            outcome = [dict(sorted((k, v) for k, v in vars(row).items() if not k.startswith("_") and k not in TIMESTAMPS))
                       if hasattr(row, "to_status") else _timeless(row) for row in outcome]
        outcomes.append(repr(_timeless(outcome)))
    return outcomes


def _timeless(value):
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__ if k not in TIMESTAMPS}
    return value


def table_rows(path: Path) -> dict[str, list[dict]]:
    """Every row of the ticket tables, timestamps replaced by whether they are set (each checked for
    SQLAlchemy's stored form)."""
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    rows = {}
    for table, order in TABLES.items():
        rows[table] = []
        for row in connection.execute(f"SELECT * FROM {table} ORDER BY {order}"):
            values = dict(row)
            for name in TIMESTAMPS & values.keys():
                assert values[name] is None or STORED_TIME.match(values[name]), (table, name, values[name])
                values[name] = values[name] is not None
            rows[table].append(values)
    connection.close()
    return rows


@pytest.fixture
def twin(db, project, tmp_path) -> Path:
    """A copy of the database with the project and nothing else, for the other way of writing."""
    path = tmp_path / "twin.db"
    source, target = sqlite3.connect(db.url.removeprefix("sqlite:///")), sqlite3.connect(path)
    source.backup(target)
    source.close(), target.close()
    return path


@on_sqlite
def test_the_ticket_use_cases_write_the_same_rows_both_ways(db, uow, twin):
    orm_outcomes = scenario(TicketService(uow))
    quick = SqliteUnitOfWork.open(f"sqlite:///{twin}")
    assert quick is not None
    quick_outcomes = scenario(TicketService(quick))
    quick.close()
    assert quick_outcomes == orm_outcomes
    assert any(o.startswith('"WipLimitReached') for o in orm_outcomes)
    assert any("'open_blockers': 1" in o for o in orm_outcomes)  # ticket 3 released by 1, still waiting on 2
    rows = table_rows(twin)
    assert rows == table_rows(Path(db.url.removeprefix("sqlite:///")))
    assert rows["tickets"][0]["phase_id"] == "PHASE_DONE" and rows["tickets"][0]["completed_at"] is True
    assert [d["resolved"] for d in rows["ticket_dependencies"]] == [1, 1, 0]  # 2 and 3 on 1 (done); 3 on 2
    assert [h["forced"] for h in rows["phase_history"] if h["initiated_by"] == "bob"] == [1]


@on_sqlite
def test_events_reach_after_commit_listeners_as_the_orm_delivers_them(db, uow, twin):
    orm_seen, quick_seen = [], []
    uow.after_commit.append(orm_seen.extend)
    TicketService(uow).create_ticket("demo", "first")
    quick = SqliteUnitOfWork.open(f"sqlite:///{twin}")
    quick.after_commit.append(quick_seen.extend)
    TicketService(quick).create_ticket("demo", "first")
    quick.close()
    assert [{k: v for k, v in e.items() if k != "created_at"} for e in quick_seen] == \
        [{k: v for k, v in e.items() if k != "created_at"} for e in orm_seen]
    assert list(quick_seen[0]) == list(orm_seen[0])
    assert quick_seen[0]["created_at"].endswith("+00:00")


@on_sqlite
def test_a_failed_use_case_writes_nothing_and_the_orm_reads_what_it_wrote(db, twin):
    quick = SqliteUnitOfWork.open(f"sqlite:///{twin}")
    tickets = TicketService(quick)
    with pytest.raises(PhaseloomError):
        with quick:
            tickets.create_ticket("demo", "kept only if the block ends well")
            tickets.create_ticket("demo", "x", blocked_by=[99])
    assert table_rows(twin)["tickets"] == []
    made = tickets.create_ticket("demo", "made quickly")
    quick.close()
    other = Database.connect(f"sqlite:///{twin}")
    try:
        assert TicketService(UnitOfWork(other)).get(made.id) == made
    finally:
        other.dispose()


def test_only_a_sqlite_file_at_the_current_schema_gets_quick_writes(tmp_path):
    assert SqliteUnitOfWork.open(f"sqlite:///{tmp_path / 'missing.db'}") is None
    assert SqliteUnitOfWork.open("postgresql://localhost/test") is None
    sqlite3.connect(tmp_path / "empty.db").close()
    assert SqliteUnitOfWork.open(f"sqlite:///{tmp_path / 'empty.db'}") is None
