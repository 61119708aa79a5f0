"""Engines and sessions for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and a busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of
failing with "database is locked" when a reader upgrades to a writer.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:  # pydantic-settings costs a command ~100 ms to import: only reading the settings needs it
    from phaseloom.config import Settings

Kept = TypeVar("Kept")


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _prepare_sqlite_path(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


IDLE_PING_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 10


def create_db_engine(url: str, *, busy_timeout_ms: int = 30_000, echo: bool = False,
                     idle_ping_seconds: float = IDLE_PING_SECONDS) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        _prepare_sqlite_path(url)
        engine = create_engine(url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000})
        _configure_sqlite(engine, busy_timeout_ms)
    else:
        # libpq waits for a silent server (or an unroutable address) as long as TCP does, minutes;
        # a URL that names its own ``connect_timeout`` keeps it.
        connect_args = {} if "connect_timeout" in make_url(url).query else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        engine = create_engine(url, echo=echo, pool_size=5, max_overflow=10, connect_args=connect_args)
        _ping_when_idle(engine, after_seconds=idle_ping_seconds)
    _ENGINES.add(engine)
    return engine


# Every engine and every stack of autocommit connections of this process, so that a forked
# child starts with none of its parent's connections (below).
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
_AUTOCOMMIT_STACKS: weakref.WeakSet[AutocommitConnections] = weakref.WeakSet()


def _fresh_connections_after_fork() -> None:
    """In a forked child, each engine starts a new pool and each autocommit stack an empty one: a
    connection is a socket shared with the parent, and two processes talking over one socket
    corrupt each other's session. The parent's connections are left open (closing them here
    would end the parent's sessions). For engines this is SQLAlchemy's recipe for ``os.fork()``
    (``dispose(close=False)``)."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)
    for stack in list(_AUTOCOMMIT_STACKS):
        stack.forget_parents()


os.register_at_fork(after_in_child=_fresh_connections_after_fork)


def _ping_when_idle(engine: Engine, *, after_seconds: float) -> None:
    """Test a pooled connection before use only when it sat idle for ``after_seconds``.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per transaction, a
    fifth of a busy worker's claim-and-complete. A connection that was used moments ago is
    alive as far as a ping could tell; one that failed anyway raises, and SQLAlchemy then
    discards the pool's connections (and the caller retries, as after any lost connection).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        record.info["phaseloom_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        idle_since = record.info.get("phaseloom_idle_since")
        if idle_since is None or time.monotonic() - idle_since < after_seconds:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as error:  # noqa: BLE001 - any failure means: use another connection
            raise DisconnectionError(f"pooled connection failed its ping: {error}") from error


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised on every connect
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = "DEFERRED" if conn.get_execution_options().get("phaseloom_readonly") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


class AutocommitConnections:
    """PostgreSQL connections in autocommit mode, for statements that are transactions of their own.

    A stack of idle driver connections beside the engine's pool: taking one is a list pop, where
    a pool checkout plus switching autocommit on and off again cost about 18 µs of CPU, a tenth
    of a queue worker's Python per task. Connections are made through the engine (same URL,
    arguments and connect events), then detached from its pool. A connection idle for
    ``idle_ping_seconds`` is tested before use; one that fails in use is discarded.
    """

    def __init__(self, engine: Engine, *, keep: int = 5, idle_ping_seconds: float = IDLE_PING_SECONDS) -> None:
        self._engine = engine
        self._keep = keep
        self._idle_ping_seconds = idle_ping_seconds
        # (driver connection, its cursor, monotonic time of last use). The cursor is reused: a
        # new one per statement costs 5 µs.
        self._idle: list[tuple[object, object, float]] = []
        _AUTOCOMMIT_STACKS.add(self)

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[tuple]:
        """Run one statement (psycopg ``%(name)s`` parameters) as a transaction of its own; its rows."""
        with self._lease() as (_, cursor):
            return cursor.execute(sql, params).fetchall()

    @contextmanager
    def connection(self) -> Iterator:
        """A psycopg connection in autocommit mode, returned to the stack afterwards."""
        with self._lease() as (driver, _):
            yield driver

    @contextmanager
    def _lease(self) -> Iterator[tuple]:
        driver, cursor = self._take()
        try:
            yield driver, cursor
        except BaseException:
            if driver.broken or driver.closed:
                driver.close()
                driver = None
            raise
        finally:
            if driver is not None:
                self._give_back(driver, cursor)

    def _take(self) -> tuple:
        while True:
            try:
                driver, cursor, last_used = self._idle.pop()  # atomic: no lock on the hot path
            except IndexError:
                pooled = self._engine.raw_connection()
                driver = pooled.driver_connection
                pooled.detach()
                driver.autocommit = True
                return driver, driver.cursor()
            if time.monotonic() - last_used < self._idle_ping_seconds or self._alive(driver):
                return driver, cursor

    @staticmethod
    def _alive(driver) -> bool:
        try:
            driver.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means: make another connection
            driver.close()
            return False

    def _give_back(self, driver, cursor) -> None:
        if len(self._idle) < self._keep:
            self._idle.append((driver, cursor, time.monotonic()))
        else:
            driver.close()

    def forget_parents(self) -> None:
        """In a forked child: the parent's connections are not ours to use or close (closing one
        would end the parent's session), so keep them referenced and unused."""
        _INHERITED.extend(self._idle)
        self._idle = []

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for driver, _, _ in idle:
            driver.close()


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL (as written: maybe relative), or None for other backends and memory."""
    parsed = make_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:" \
            or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def absolute_url(url: str) -> str:
    """``url`` with a relative SQLite path made absolute, so a process in another folder opens the same file."""
    path = sqlite_file(url)
    if path is None or path.is_absolute():
        return url
    return make_url(url).set(database=str(path.resolve())).render_as_string(hide_password=False)


_INHERITED: list = []  # connections a forked child inherited; never used, never closed


def _settings_from_environment() -> Settings:
    from phaseloom.config import Settings

    return Settings()


@dataclass
class Database:
    """An engine and its session factory; one per process and database URL.

    It also holds what is worth keeping per database in this process: the settings its units of
    work run with (built when first asked for) and the caches of rows read on every claim.
    """

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    # PostgreSQL only (see Database.connect): statements that are transactions of their own.
    autocommit: AutocommitConnections | None = field(default=None, repr=False)
    # Where the settings come from: the caller's, or the environment and phaseloom.toml.
    settings_source: Callable[[], Settings] = field(default=_settings_from_environment, repr=False)
    # (workflow id, version, content hash, updated at) -> the workflow as a domain value (db/workflow_cache.py).
    workflows: dict[tuple, Any] = field(default_factory=dict, repr=False)
    # agent id -> its claim-relevant fields as last read (phaseloom/queue/_lifecycle.py).
    claiming_agents: dict[str, Any] = field(default_factory=dict, repr=False)
    # name -> what runs inside the transaction when a lower layer reports it (UnitOfWork.react): how
    # the use-cases answer the task lifecycle without it importing them; wired where the app is built.
    reactions: dict[str, list[Callable[..., None]]] = field(default_factory=dict, repr=False)
    _settings: Settings | None = field(default=None, repr=False)
    # kind -> its one instance for this database (Database.kept): the search indexes and counts.
    _kept: dict[type, Any] = field(default_factory=dict, repr=False)
    _kept_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @property
    def settings(self) -> Settings:
        """The settings of the work done on this database, unless a unit of work is given its own."""
        if self._settings is None:
            self._settings = self.settings_source()
        return self._settings

    def kept(self, kind: type[Kept]) -> Kept:
        """This database's one instance of ``kind``, built with no arguments when first asked for.

        For what outer layers keep per database (the in-memory vector index, the keyword counts):
        they hang off the database they describe, so a new Database (a test's, after TRUNCATE)
        starts empty and nothing is keyed by URL in a module."""
        with self._kept_lock:
            if kind not in self._kept:
                self._kept[kind] = kind()
            return self._kept[kind]

    @classmethod
    def connect(cls, url: str, *, busy_timeout_ms: int = 30_000, idle_ping_seconds: float = IDLE_PING_SECONDS,
                settings: Settings | Callable[[], Settings] | None = None) -> "Database":
        """``idle_ping_seconds``: PostgreSQL connections idle this long are tested before use.
        ``settings``: the settings (or what builds them when first needed); else the environment's."""
        engine = create_db_engine(url, busy_timeout_ms=busy_timeout_ms, idle_ping_seconds=idle_ping_seconds)
        autocommit = (AutocommitConnections(engine, idle_ping_seconds=idle_ping_seconds)
                      if engine.dialect.name == "postgresql" else None)
        db = cls(url=url, engine=engine, sessions=sessionmaker(engine, expire_on_commit=False),
                 autocommit=autocommit)
        if callable(settings):
            db.settings_source = settings
        elif settings is not None:
            db._settings = settings
        return db

    def dispose(self) -> None:
        if self.autocommit is not None:
            self.autocommit.close()
        self.engine.dispose()
