"""What every command needs: settings, the database (upgraded on first use) and a console."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from rich.console import Console

from phaseloom.config import Settings, get_settings

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    debug: bool = False
    database_url: str | None = None
    _db: object | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        settings = get_settings()
        if self.database_url:
            settings = settings.model_copy(update={"database_url": self.database_url})
        return settings

    def database(self):
        """The database, connected and migrated to the current schema."""
        if self._db is None:
            from phaseloom.db.engine import Database
            from phaseloom.db.migrate import ensure_schema

            settings = self.settings
            logging.basicConfig(level=settings.log_level.upper())
            db = Database.connect(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
            ensure_schema(db.engine)
            self._db = db
        return self._db

    def uow(self, *, readonly: bool = False):
        from phaseloom.services.unit_of_work import UnitOfWork

        return UnitOfWork(self.database(), readonly=readonly)


state = CliState()
