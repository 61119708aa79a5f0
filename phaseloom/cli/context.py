"""What every command needs: settings, the database (upgraded on first use) and a console.

Kept cheap to import: every command, ``--help`` included, loads this module, so settings
(pydantic), SQLAlchemy and the services are imported only when a command asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from phaseloom.settings_defaults import DEFAULT_DATABASE_URL, DEFAULT_LOG_LEVEL, DEFAULT_SQLITE_BUSY_TIMEOUT_MS

if TYPE_CHECKING:
    from rich.console import Console

    from phaseloom.config import Settings


class LazyConsole:
    """A rich ``Console`` made on first use: importing rich's console costs ~30 ms, which ``--help`` and
    the commands that print plain columns never need. (Rich reads the terminal at each print, not at
    construction, so a late console prints the same.)"""

    def __init__(self, **options) -> None:
        self._options = options
        self._console: Console | None = None

    def real(self) -> Console:
        """The rich console itself, for code that takes one (``Live(console=...)``)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str):
        return getattr(self.real(), name)


console = LazyConsole()
err_console = LazyConsole(stderr=True)

NO_DATABASE = "no phaseloom database here: run `phaseloom init` or set PHASELOOM_DATABASE_URL"


@dataclass
class CliState:
    debug: bool = False
    database_url: str | None = None
    # Only ``phaseloom init`` may create a database; any other command on a missing SQLite file refuses.
    may_create_database: bool = False
    _db: object | None = field(default=None, repr=False)
    _quick: object | None = field(default=None, repr=False)
    _quick_tried: bool = field(default=False, repr=False)

    @property
    def settings(self) -> Settings:
        from phaseloom.config import get_settings

        settings = get_settings()
        if self.database_url:
            settings = settings.model_copy(update={"database_url": self.database_url})
        return settings

    def database_settings(self) -> tuple[str, int, str]:
        """(database URL, SQLite busy timeout in ms, log level): what opening the database needs.

        Read without the settings (pydantic-settings costs a command ~100 ms to import) when nothing
        but the URL could differ from the defaults: no ``phaseloom.toml`` here and no
        ``PHASELOOM_SQLITE_BUSY_TIMEOUT_MS`` or ``PHASELOOM_LOG_LEVEL``; the URL is then ``--database-url``,
        ``PHASELOOM_DATABASE_URL`` (any case, as the settings read it) or the default.
        """
        import os

        names = {name.upper(): value for name, value in os.environ.items()}
        if Path("phaseloom.toml").exists() or {"PHASELOOM_SQLITE_BUSY_TIMEOUT_MS", "PHASELOOM_LOG_LEVEL"} & set(names):
            settings = self.settings
            return settings.database_url, settings.sqlite_busy_timeout_ms, settings.log_level
        url = self.database_url or names.get("PHASELOOM_DATABASE_URL", DEFAULT_DATABASE_URL)
        return url, DEFAULT_SQLITE_BUSY_TIMEOUT_MS, DEFAULT_LOG_LEVEL

    def quick_reader(self):
        """A :class:`~phaseloom.db.quick_reads.QuickReader` on the SQLite file, or None: read through the
        services instead (PostgreSQL, a database to upgrade or create)."""
        if not self._quick_tried:
            from phaseloom.db.quick_reads import QuickReader

            self._quick_tried = True
            url, busy_timeout_ms, _ = self.database_settings()
            self._quick = QuickReader.open(url, busy_timeout_ms=busy_timeout_ms)
        return self._quick

    def ticket_uow(self):
        """The unit of work for a ticket write: over ``sqlite3`` on the quick reader's connection
        (:class:`~phaseloom.db.quick_writes.SqliteUnitOfWork`, the same use-case code without SQLAlchemy)
        when the database is a SQLite file at the current schema, else the ORM's."""
        reader = self.quick_reader()
        if reader is None:
            return self.uow()
        from phaseloom.db.quick_writes import SqliteUnitOfWork

        return SqliteUnitOfWork(reader)

    def database(self):
        """The database, connected and migrated to the current schema."""
        if self._db is None:
            import logging

            url, busy_timeout_ms, log_level = self.database_settings()
            logging.basicConfig(level=log_level.upper())
            # The settings are built only when the work asks for them (importing them costs ~100 ms).
            self._db = open_database(url, busy_timeout_ms, lambda: self.settings,
                                     may_create=self.may_create_database)
        return self._db

    def uow(self, *, readonly: bool = False):
        from phaseloom.db.unit_of_work import UnitOfWork

        return UnitOfWork(self.database(), readonly=readonly)


def open_database(url: str, busy_timeout_ms: int, settings, *, may_create: bool = False):
    """The database at ``url`` as commands use it, connected and migrated to the current schema;
    a missing SQLite file is refused unless ``may_create``. ``settings``: the settings (or what builds
    them) its units of work run with."""
    from phaseloom.db.engine import Database, sqlite_file
    from phaseloom.db.migrate import ensure_schema

    file = sqlite_file(url)
    if not may_create and file is not None and not file.exists():
        from phaseloom.domain.errors import PhaseloomError

        raise PhaseloomError(NO_DATABASE)
    from phaseloom.services.review_outcomes import wire_review_outcomes

    db = wire_review_outcomes(Database.connect(url, busy_timeout_ms=busy_timeout_ms, settings=settings))
    ensure_schema(db.engine)
    return db


state = CliState()
