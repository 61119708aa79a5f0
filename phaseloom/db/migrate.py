"""Run Alembic migrations programmatically; the CLI upgrades on first use.

Several feature branches of the schema may be developed side by side, so we always
upgrade to ``heads`` (every head), never to a single ``head``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def is_up_to_date(engine: Engine) -> bool:
    return current_revisions(engine) == head_revisions()


def upgrade(engine: Engine) -> None:
    """Bring the schema to every head revision, in one transaction per migration.

    Then, on PostgreSQL, take up pgvector if it became available after migration ``000f`` ran
    (Alembic runs a revision once; installing the extension later should need only this).
    """
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
        if connection.dialect.name == "postgresql":
            _take_up_pgvector(connection)


def _take_up_pgvector(connection) -> bool:
    from alembic.operations import Operations

    from phaseloom.db.embedding_vectors import add_vectors, has_vectors

    operations = Operations(MigrationContext.configure(connection))
    if not inspect(connection).has_table("task_memories") or has_vectors(operations):
        return False
    return add_vectors(operations)


def ensure_schema(engine: Engine) -> bool:
    """Upgrade if needed; return True when anything was applied."""
    if is_up_to_date(engine):
        return False
    upgrade(engine)
    return True
