"""Defaults that code without the settings (pydantic-settings) needs too: the CLI's quick reads."""

DEFAULT_DATABASE_URL = "sqlite:///./.phaseloom/phaseloom.db"
