"""task_paths.held_project_id: the path prefixes claimed and running tasks hold, indexed by project and prefix

Revision ID: 0014_paths_held
Revises: 0013p

The claim must not start a task whose path prefixes overlap a claimed or running task's of its
project. Probed through the active tasks (0013p), each pending candidate the claim passed over cost
one lookup per active task: with 50 running tasks and the candidates they block at the head of the
queue, 1.6 ms of SQL per claim (docs/benchmarks.md, "Path globs"). Here each row carries its task's
project while the task is claimed or running (NULL otherwise), and a partial index on
(held_project_id, prefix) holds those rows only: a candidate's prefix is then one range seek (held
prefixes that start with it) plus a walk of the project's held prefixes that sort before it.

The column is kept by triggers, so no write of a task's status, by any code path, can leave it
stale: when a task with paths enters or leaves claimed/running, and when a row is inserted for a
task already active (a failed attempt's changed files are declared before its retry is queued).
On PostgreSQL the index compares prefixes byte-wise (``varchar_pattern_ops``), whatever the
database's collation, so a range from a prefix to that prefix followed by U+10FFFF is exactly the
prefixes that start with it (globs may not hold U+10FFFF, phaseloom/domain/task_paths.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_paths_held"
down_revision = "0013p"
branch_labels = None
depends_on = None

_HELD = sa.text("held_project_id IS NOT NULL")
_ACTIVE = "('claimed', 'running')"

_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER tasks_hold_paths AFTER UPDATE OF status ON tasks
    WHEN NEW.path_count > 0 AND (OLD.status IN {_ACTIVE}) <> (NEW.status IN {_ACTIVE})
    BEGIN
        UPDATE task_paths SET held_project_id = CASE WHEN NEW.status IN {_ACTIVE} THEN NEW.project_id END
        WHERE task_id = NEW.id;
    END""",
    f"""CREATE TRIGGER task_paths_held_on_insert AFTER INSERT ON task_paths
    WHEN (SELECT status FROM tasks WHERE id = NEW.task_id) IN {_ACTIVE}
    BEGIN
        UPDATE task_paths SET held_project_id = (SELECT project_id FROM tasks WHERE id = NEW.task_id)
        WHERE task_id = NEW.task_id AND glob = NEW.glob;
    END""",
)

_POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION phaseloom_hold_task_paths() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE task_paths SET held_project_id = CASE WHEN NEW.status IN {_ACTIVE} THEN NEW.project_id END
        WHERE task_id = NEW.id;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER tasks_hold_paths AFTER UPDATE OF status ON tasks FOR EACH ROW
    WHEN (NEW.path_count > 0 AND (OLD.status IN {_ACTIVE}) IS DISTINCT FROM (NEW.status IN {_ACTIVE}))
    EXECUTE FUNCTION phaseloom_hold_task_paths()""",
    f"""CREATE FUNCTION phaseloom_task_paths_held_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        SELECT project_id INTO NEW.held_project_id FROM tasks WHERE id = NEW.task_id AND status IN {_ACTIVE};
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER task_paths_held_on_insert BEFORE INSERT ON task_paths FOR EACH ROW
    EXECUTE FUNCTION phaseloom_task_paths_held_on_insert()""",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("task_paths") as batch_op:
        batch_op.add_column(sa.Column("held_project_id", sa.Integer(), nullable=True))
    op.execute(f"UPDATE task_paths SET held_project_id = (SELECT project_id FROM tasks WHERE tasks.id = "
               f"task_paths.task_id AND tasks.status IN {_ACTIVE})")
    op.create_index("ix_task_paths_held", "task_paths", ["held_project_id", "prefix"], sqlite_where=_HELD,
                    postgresql_where=_HELD, postgresql_ops={"prefix": "varchar_pattern_ops"})
    for statement in _POSTGRES_TRIGGERS if postgres else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS task_paths_held_on_insert ON task_paths")
        op.execute("DROP TRIGGER IF EXISTS tasks_hold_paths ON tasks")
        op.execute("DROP FUNCTION IF EXISTS phaseloom_task_paths_held_on_insert()")
        op.execute("DROP FUNCTION IF EXISTS phaseloom_hold_task_paths()")
    else:
        op.execute("DROP TRIGGER IF EXISTS task_paths_held_on_insert")
        op.execute("DROP TRIGGER IF EXISTS tasks_hold_paths")
    op.drop_index("ix_task_paths_held", table_name="task_paths")
    with op.batch_alter_table("task_paths") as batch_op:
        batch_op.drop_column("held_project_id")
