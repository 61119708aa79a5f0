"""Run Alembic migrations programmatically; the CLI upgrades on first use.

SQLAlchemy and Alembic are imported inside the functions: the CLI's quick reads
(:mod:`phaseloom.db.quick_reads`) need only :func:`head_revisions`.

Several feature branches of the schema may be developed side by side, so we always
upgrade to ``heads`` (every head), never to a single ``head``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
# ``revision = "0002"`` / ``down_revision = ("0003", "0004")`` at the start of a line of a version file.
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def alembic_config(url: str = "") -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def head_revisions() -> set[str]:
    """Alembic's heads, from the version files' ``revision``/``down_revision`` lines.

    Alembic's own answer (``ScriptDirectory.get_heads``) imports alembic and every migration module,
    most of a CLI read command's CPU; reading the two assignments of each file gives the same set
    (tests/db/test_migrate.py compares them).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            parsed = ast.literal_eval(value.strip())
            if name == "revision":
                revisions.add(parsed)
            elif parsed:
                parents.update((parsed,) if isinstance(parsed, str) else parsed)
    return revisions - parents


def alembic_head_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    """The revisions the database is at (none before the first migration), with one plain query."""
    from sqlalchemy import inspect, text

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return set()
        return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def is_up_to_date(engine: Engine) -> bool:
    return current_revisions(engine) == head_revisions()


def upgrade(engine: Engine) -> None:
    """Bring the schema to every head revision, in one transaction per migration.

    Then, on PostgreSQL, take up pgvector if it became available after migration ``000f`` ran
    (Alembic runs a revision once; installing the extension later should need only this).
    """
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
        if connection.dialect.name == "postgresql":
            _take_up_pgvector(connection)


def _take_up_pgvector(connection) -> bool:
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

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
