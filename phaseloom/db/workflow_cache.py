"""Workflows read as domain values, cached on their :class:`~phaseloom.db.engine.Database`.

Every claim, completion and transition needs its task's workflow, and building it costs three
queries and hundreds of objects; checking that the cached copy is current costs one indexed
lookup of what changes on every edit (version, content hash, update time).
"""

from __future__ import annotations

from sqlalchemy import select

from phaseloom.db.mapping import workflow_from_row
from phaseloom.db.models import WorkflowRow
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain import phases as d
from phaseloom.domain.errors import NotFound

_MOST_CACHED = 256


def workflow_by_id(uow: UnitOfWork, workflow_id: int) -> d.Workflow:
    """The workflow ``workflow_id`` as a domain value, from the database's cache while it is current."""
    with uow:
        stamp = uow.session.execute(
            select(WorkflowRow.version, WorkflowRow.content_hash, WorkflowRow.updated_at)
            .where(WorkflowRow.id == int(workflow_id))).one_or_none()
        if stamp is None:
            raise NotFound("workflow", workflow_id)
        cache = uow.db.workflows
        key = (int(workflow_id), *stamp)
        cached = cache.get(key)
        if cached is None:
            row = uow.session.get(WorkflowRow, int(workflow_id))
            if row is None:
                raise NotFound("workflow", workflow_id)
            cached = workflow_from_row(row)
            if len(cache) > _MOST_CACHED:
                cache.clear()
            cache[key] = cached
        return cached
