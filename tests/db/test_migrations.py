"""The schema the migrations build is the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from phaseloom.db.models import Base

# What only the migrations manage, on purpose: the full-text search machinery of memories
# (FTS5's shadow tables on SQLite, a generated tsvector on PostgreSQL) and the column that
# stamps embeddings. The models never read them through the ORM.
MIGRATION_ONLY_TABLES = ("task_memories_fts", "task_memories_clock")
MIGRATION_ONLY_NAMES = {"embedding_stamp", "search_vector", "ix_task_memories_embedding_stamp",
                        "ix_task_memories_search"}
# Indexes with an expression (``score DESC``): autogenerate cannot compare them on SQLite and
# reports each as removed and added again.
EXPRESSION_INDEXES = {"ix_tasks_ready_score_id", "ix_tasks_ready_phase_score_id"}


def _name(diff) -> str:
    kind = diff[0]
    if kind in ("remove_table", "add_table"):
        return diff[1].name
    if kind in ("remove_index", "add_index"):
        return diff[1].name
    if kind in ("remove_column", "add_column"):
        return diff[3].name
    return ""


def _unexpected(diff) -> bool:
    if isinstance(diff, list):  # column modifications come as a list of changes
        return True
    name = _name(diff)
    return not (name.startswith(MIGRATION_ONLY_TABLES) or name in MIGRATION_ONLY_NAMES
                or name in EXPRESSION_INDEXES)


def test_the_migrated_schema_matches_the_models(db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, Base.metadata) if _unexpected(d)]
    assert differences == []


def test_the_outbox_has_no_index_on_the_event_type_alone(db):
    indexes = {index["name"]: index["column_names"] for index in inspect(db.engine).get_indexes("system_events")}
    assert ["event_type"] not in indexes.values()
    assert indexes["ix_system_events_project"] == ["project_id", "id"]


def test_cheap_heads_are_alembics_heads():
    from phaseloom.db.migrate import alembic_head_revisions, head_revisions

    assert head_revisions() == alembic_head_revisions()
    assert len(head_revisions()) >= 1


def test_current_revisions_of_an_empty_and_an_upgraded_database(tmp_path):
    from phaseloom.db.engine import create_db_engine
    from phaseloom.db.migrate import current_revisions, head_revisions, is_up_to_date, upgrade

    engine = create_db_engine(f"sqlite:///{tmp_path}/m.db")
    assert current_revisions(engine) == set() and not is_up_to_date(engine)
    upgrade(engine)
    assert current_revisions(engine) == head_revisions() and is_up_to_date(engine)
