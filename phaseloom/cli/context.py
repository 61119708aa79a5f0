"""What every command needs: settings, the database (upgraded on first use) and a console.

Kept cheap to import: every command, ``--help`` included, loads this module, so settings
(pydantic), SQLAlchemy and the services are imported only when a command asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from phaseloom.config import Settings

console = Console()
err_console = Console(stderr=True)

NO_DATABASE = "no phaseloom database here: run `phaseloom init` or set PHASELOOM_DATABASE_URL"


@dataclass
class CliState:
    debug: bool = False
    database_url: str | None = None
    # Only ``phaseloom init`` may create a database; any other command on a missing SQLite file refuses.
    may_create_database: bool = False
    _db: object | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        from phaseloom.config import get_settings

        settings = get_settings()
        if self.database_url:
            settings = settings.model_copy(update={"database_url": self.database_url})
        return settings

    def database(self):
        """The database, connected and migrated to the current schema."""
        if self._db is None:
            import logging

            from phaseloom.db.engine import Database, sqlite_file
            from phaseloom.db.migrate import ensure_schema

            settings = self.settings
            file = sqlite_file(settings.database_url)
            if not self.may_create_database and file is not None and not file.exists():
                from phaseloom.domain.errors import PhaseloomError

                raise PhaseloomError(NO_DATABASE)
            logging.basicConfig(level=settings.log_level.upper())
            db = Database.connect(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
            ensure_schema(db.engine)
            self._db = db
        return self._db

    def uow(self, *, readonly: bool = False):
        from phaseloom.services.unit_of_work import UnitOfWork

        return UnitOfWork(self.database(), readonly=readonly)


state = CliState()
