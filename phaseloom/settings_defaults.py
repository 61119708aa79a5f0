"""Defaults that code without the settings (pydantic-settings) needs too: the CLI opening its database."""

DEFAULT_DATABASE_URL = "sqlite:///./.phaseloom/phaseloom.db"
DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 30_000
DEFAULT_LOG_LEVEL = "WARNING"
