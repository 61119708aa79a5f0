"""Reads of a SQLite database through the standard library's ``sqlite3``, for the CLI's read commands.

Importing SQLAlchemy, its ORM and our models costs a read command most of its CPU (~300 ms of a
~400 ms ``ticket list``); the query itself takes a few milliseconds. So ``phaseloom ticket list``,
``ticket show``, ``task list``, ``board`` and ``project list`` read through this module when the
database is a SQLite file at the current schema, and through the services otherwise (PostgreSQL, a
database to upgrade, a URL with options). Rows come back as plain objects with the same attributes
and Python values as the ORM's (JSON decoded and made readable, datetimes aware UTC, booleans), so
the views built from them (:mod:`phaseloom.services.ticket_views`, :mod:`phaseloom.db.mapping`) and
the API shapes printed by ``--json`` are the same.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from phaseloom.db.mapping import workflow_from_row
from phaseloom.db.migrate import head_revisions
from phaseloom.domain import phases as d
from phaseloom.domain.errors import NotFound
from phaseloom.domain.identifiers import is_number
from phaseloom.domain.json_values import readable_copy
from phaseloom.domain.priorities import Priority
from phaseloom.domain.tasks import ACTIVE_STATUSES

_SQLITE_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL; None for anything this module leaves to SQLAlchemy
    (other backends, memory, ``file:`` URIs, query options)."""
    prefix = next((p for p in _SQLITE_PREFIXES if url.startswith(p)), None)
    database = url[len(prefix):] if prefix else ""
    if not database or "?" in database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


# A column's declared type (as SQLAlchemy created it) -> how its stored value reads back.
_DECODERS = {"JSON": lambda v: readable_copy(json.loads(v)), "DATETIME": _utc, "BOOLEAN": bool}


class QuickReader:
    """One read-only use of a SQLite file; every method is one or two queries."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self._decoders: dict[str, dict[str, object]] = {}

    @classmethod
    def open(cls, url: str, *, busy_timeout_ms: int = 30_000) -> QuickReader | None:
        """A reader when ``url`` is a SQLite file at the current schema, else None (read through the services)."""
        path = sqlite_path(url)
        if path is None or not path.is_file():
            return None
        connection = sqlite3.connect(path, timeout=busy_timeout_ms / 1000)
        try:
            revisions = {row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}
        except sqlite3.OperationalError:  # no alembic_version: a database to create or upgrade
            revisions = set()
        if revisions != head_revisions():
            connection.close()
            return None
        return cls(connection)

    def close(self) -> None:
        self.connection.close()

    def rows(self, table: str, where: str = "", params: tuple = (), tail: str = "") -> list[SimpleNamespace]:
        """``SELECT * FROM table [WHERE where] tail`` as objects with decoded attributes."""
        cursor = self.connection.execute(f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "")
                                         + (f" {tail}" if tail else ""), params)
        names = [column[0] for column in cursor.description]
        decoders = self._column_decoders(table)
        return [SimpleNamespace(**{name: value if value is None or name not in decoders else decoders[name](value)
                                   for name, value in zip(names, row)}) for row in cursor]

    def _column_decoders(self, table: str) -> dict[str, object]:
        if table not in self._decoders:
            info = self.connection.execute(f"SELECT name, type FROM pragma_table_info('{table}')")
            self._decoders[table] = {name: _DECODERS[kind.upper()] for name, kind in info
                                     if kind.upper() in _DECODERS}
        return self._decoders[table]

    def project(self, name_or_id: str | int) -> SimpleNamespace:
        """As ``ProjectService.get``: by id when ``name_or_id`` is a number, else by name."""
        by_id = isinstance(name_or_id, int) or is_number(str(name_or_id))
        found = self.rows("projects", "id = ?" if by_id else "name = ?", (int(name_or_id) if by_id else name_or_id,))
        if not found:
            raise NotFound("project", name_or_id)
        return found[0]

    def projects(self) -> list[dict]:
        """As ``ProjectService.list``."""
        counts = dict(self.connection.execute("SELECT project_id, count(*) FROM tickets GROUP BY project_id"))
        names = dict(self.connection.execute("SELECT id, name FROM workflows"))
        return [{"id": p.id, "name": p.name, "workflow_id": p.workflow_id,
                 "workflow_name": names.get(p.workflow_id, ""), "tickets": counts.get(p.id, 0),
                 "repo_path": p.repo_path, "description": p.description}
                for p in self.rows("projects", tail="ORDER BY id")]

    def workflow(self, workflow_id: int) -> d.Workflow:
        found = self.rows("workflows", "id = ?", (int(workflow_id),))
        if not found:
            raise NotFound("workflow", workflow_id)
        row = found[0]
        row.phases = self.rows("phases", "workflow_id = ?", (row.id,), "ORDER BY sequence_order")
        row.board_columns = self.rows("board_columns", "workflow_id = ?", (row.id,), "ORDER BY position")
        return workflow_from_row(row)

    def workflow_named(self, name_or_id: str | int) -> d.Workflow:
        """As ``WorkflowService.get``: by id when ``name_or_id`` is a number, else by name."""
        by_id = isinstance(name_or_id, int) or is_number(str(name_or_id))
        found = self.connection.execute("SELECT id FROM workflows WHERE " + ("id = ?" if by_id else "name = ?"),
                                        (int(name_or_id) if by_id else name_or_id,)).fetchone()
        if found is None:
            raise NotFound("workflow", name_or_id)
        return self.workflow(found[0])

    def workflows(self) -> list[dict]:
        """As ``WorkflowService.list``: by name, with their phase and project counts."""
        phases = dict(self.connection.execute("SELECT workflow_id, count(*) FROM phases GROUP BY workflow_id"))
        projects = dict(self.connection.execute("SELECT workflow_id, count(*) FROM projects GROUP BY workflow_id"))
        return [{"id": w.id, "name": w.name, "version": w.version, "mode": w.mode, "phases": phases.get(w.id, 0),
                 "projects": projects.get(w.id, 0), "description": w.description}
                for w in self.rows("workflows", tail="ORDER BY name")]

    def workflow_ids(self) -> list[int]:
        return [row[0] for row in self.connection.execute("SELECT id FROM workflows")]

    def ticket(self, ticket_id: int) -> SimpleNamespace:
        found = self.rows("tickets", "id = ?", (int(ticket_id),))
        if not found:
            raise NotFound("ticket", ticket_id)
        return found[0]

    def history(self, ticket_id: int) -> list[SimpleNamespace]:
        """As ``TicketService.history``: the ticket's phase history, oldest first (NotFound without the ticket)."""
        self.ticket(ticket_id)
        return self.rows("phase_history", "ticket_id = ?", (int(ticket_id),), "ORDER BY id")

    def task(self, task_id: int) -> SimpleNamespace:
        """As ``QueueService.get``."""
        found = self.rows("tasks", "id = ?", (int(task_id),))
        if not found:
            raise NotFound("task", task_id)
        return found[0]

    def agents(self) -> list[SimpleNamespace]:
        """As ``AgentService.list``: in registration order."""
        return self.rows("agents", tail="ORDER BY created_at, id")

    def agent_loads(self) -> dict[str, int]:
        """Each agent's active tasks (claimed or running), as ``AgentService.health_report`` counts them."""
        active = [status.value for status in ACTIVE_STATUSES]
        return dict(self.connection.execute(
            f"SELECT assigned_agent_id, count(*) FROM tasks WHERE status IN ({', '.join('?' * len(active))})"
            " GROUP BY assigned_agent_id", active))

    def tickets(self, project_id: int | None = None, *, phase_id: str | None = None, priority: str | None = None,
                limit: int = 500, offset: int = 0) -> list[SimpleNamespace]:
        """As ``TicketService.list`` (the project already resolved to its id)."""
        filters = [("project_id", project_id), ("phase_id", phase_id or None),
                   ("priority", Priority.parse(priority).value if priority else None)]
        return self._filtered("tickets", filters, limit, offset)

    def tasks(self, *, ticket_id: int | None = None, project_id: int | None = None, phase_id: str | None = None,
              status: str | None = None, limit: int = 500, offset: int = 0) -> list[SimpleNamespace]:
        """As ``QueueService.list``."""
        filters = [("ticket_id", ticket_id), ("project_id", project_id), ("phase_id", phase_id), ("status", status)]
        return self._filtered("tasks", filters, limit, offset)

    def _filtered(self, table: str, filters: list[tuple[str, object]], limit: int, offset: int):
        used = [(column, value) for column, value in filters if value is not None]
        return self.rows(table, " AND ".join(f"{column} = ?" for column, _ in used),
                         (*(value for _, value in used), limit, offset), "ORDER BY id LIMIT ? OFFSET ?")
