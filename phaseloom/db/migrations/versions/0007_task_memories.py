"""task memories with full-text search (FTS5 on SQLite, tsvector + GIN on PostgreSQL)

Revision ID: 0007
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from phaseloom.db.embedding_stamps import add_stamps, drop_stamps
from phaseloom.db.embedding_vectors import add_vectors, drop_vectors

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_memories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("phase_id", sa.String(length=100), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("memory_type", sa.String(length=30), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.Column("related_files", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_model", sa.String(length=100), nullable=True),
        sa.Column("times_seen", sa.Integer(), nullable=False),
        sa.Column("times_used", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_task_memories_project_id_projects"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_task_memories_ticket_id_tickets"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_memories_task_id_tasks"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_memories")),
    )
    op.create_index("ix_task_memories_project_phase", "task_memories", ["project_id", "phase_id"])
    # Finds the few memories still waiting for an embedding without scanning the table.
    op.create_index("ix_task_memories_unembedded", "task_memories", ["project_id", "id"],
                    sqlite_where=sa.text("embedding IS NULL"), postgresql_where=sa.text("embedding IS NULL"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE task_memories ADD COLUMN search_vector tsvector "
            # Split paths and identifiers (geo/lookup.py) into words, as SQLite's unicode61 does:
            # PostgreSQL's parser would keep a path as one token no query word matches.
            "GENERATED ALWAYS AS (to_tsvector('english', "
            "regexp_replace(search_text, '[^[:alnum:]]+', ' ', 'g'))) STORED"
        )
        # fastupdate off: see 000d (which turns it off on databases made before this line).
        op.execute("CREATE INDEX ix_task_memories_search ON task_memories USING gin (search_vector) "
                   "WITH (fastupdate = off)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE task_memories_fts USING fts5("
            "search_text, content='task_memories', content_rowid='id', tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER task_memories_fts_insert AFTER INSERT ON task_memories BEGIN "
            "INSERT INTO task_memories_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER task_memories_fts_delete AFTER DELETE ON task_memories BEGIN "
            "INSERT INTO task_memories_fts(task_memories_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER task_memories_fts_update AFTER UPDATE OF search_text ON task_memories BEGIN "
            "INSERT INTO task_memories_fts(task_memories_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO task_memories_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
    # Embedding stamps: see 000e (which adds them to databases made before this line).
    add_stamps(op)
    # pgvector, where the extension exists: see 000f (which adds it to databases made before this line).
    add_vectors(op)


def downgrade() -> None:
    drop_vectors(op)
    drop_stamps(op)
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS task_memories_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS task_memories_fts")
    op.drop_index("ix_task_memories_unembedded", table_name="task_memories")
    op.drop_index("ix_task_memories_project_phase", table_name="task_memories")
    op.drop_table("task_memories")
