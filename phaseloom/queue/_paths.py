"""The path globs a task declared it touches: storing them, and why a pending task waits on them.

A task with globs is not claimed while one of them may overlap a glob of a claimed or running
task of its project (the claim's ``path_overlap``, phaseloom/queue/_statements.py). Globs come from
the task's phase (``configuration.paths``), from whoever creates the task, or, on a retry, from
the files its previous attempt changed. A task without any is claimed as if paths did not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from sqlalchemy import bindparam, delete, func, or_, select, text
from sqlalchemy.orm import Session, aliased

from phaseloom.db.models import Task, TaskPath
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain.errors import InvalidInput
from phaseloom.domain.task_paths import (MAX_GLOBS, covering_globs, glob_prefixes, normalised_globs,
                                         prefixes_conflict)
from phaseloom.domain.tasks import TaskStatus
from phaseloom.queue._statements import DriverStatement

_ACTIVE = (TaskStatus.CLAIMED.value, TaskStatus.RUNNING.value)
# Held (per transaction) by whoever confirms a PostgreSQL claim of a task with paths: any constant, the
# same in every process, and none of the other advisory locks' (db/unit_of_work.py, db/announcer.py).
PATH_CLAIM_LOCK = 0x7068_7061  # "phpa"


def checked_globs(globs: Iterable[object] | None) -> list[str]:
    """``globs`` normalised, or :class:`InvalidInput` naming the bad one (nothing is written)."""
    try:
        return normalised_globs(globs)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def declare_paths(session: Session, task: Task, globs: Iterable[str]) -> None:
    """Make ``globs`` the task's declared paths (replacing any it had); call in the unit of work."""
    prefixes = glob_prefixes(checked_globs(globs))
    if task.path_count:
        session.execute(delete(TaskPath).where(TaskPath.task_id == task.id))
    session.add_all(TaskPath(task_id=task.id, glob=glob, prefix=prefix) for glob, prefix in prefixes.items())
    task.path_count = len(prefixes)


def add_paths(session: Session, task: Task, globs: Iterable[str]) -> list[str]:
    """Declare ``globs`` besides the task's own globs (the covering globs when together they are too many)."""
    own = declared_paths(session, [task.id]).get(task.id, [])
    combined = list(dict.fromkeys([*own, *globs]))
    if len(combined) > MAX_GLOBS:
        combined = covering_globs(combined)
    declare_paths(session, task, combined)
    return combined


def declared_paths(session: Session, task_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each task's declared globs (tasks without any are absent)."""
    found: dict[int, list[str]] = {}
    ids = sorted(set(task_ids))
    if ids:
        for task_id, glob in session.execute(select(TaskPath.task_id, TaskPath.glob)
                                             .where(TaskPath.task_id.in_(ids)).order_by(TaskPath.glob)):
            found.setdefault(task_id, []).append(glob)
    return found


def path_waits(session: Session, tasks: Iterable[Task]) -> dict[int, str]:
    """Why each pending task with declared paths cannot be claimed now, in words: "waits for task 12: src/auth/**".

    The same rule as the claim (prefixes of one project's claimed or running tasks), read for the
    few tasks shown; tasks that wait on no path are absent.
    """
    waiting = [t for t in tasks if t.status == TaskStatus.PENDING.value and t.path_count]
    if not waiting:
        return {}
    mine = _prefixes(session, select(TaskPath.task_id).where(TaskPath.task_id.in_([t.id for t in waiting])))
    projects = {t.project_id for t in waiting}
    active = select(Task.id).where(Task.project_id.in_(projects), Task.status.in_(_ACTIVE))
    theirs = _prefixes(session, active)
    project_of = dict(session.execute(select(Task.id, Task.project_id).where(Task.id.in_(list(theirs)))).all()) \
        if theirs else {}
    reasons: dict[int, str] = {}
    for task in waiting:
        for other_id, other_globs in sorted(theirs.items()):
            if project_of.get(other_id) != task.project_id:
                continue
            overlapping = [g for g, p in other_globs if any(prefixes_conflict(p, q) for _, q in mine.get(task.id, []))]
            if overlapping:
                reasons[task.id] = f"waits for task {other_id}: {', '.join(overlapping)}"
                break
    return reasons


def _prefixes(session: Session, task_ids) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    rows = session.execute(select(TaskPath.task_id, TaskPath.glob, TaskPath.prefix)
                           .where(TaskPath.task_id.in_(task_ids)).order_by(TaskPath.task_id, TaskPath.glob))
    for task_id, glob, prefix in rows:
        found.setdefault(task_id, []).append((glob, prefix))
    return found


def overlapping_claim(session: Session, task_id: int) -> int | None:
    """PostgreSQL, just after claiming ``task_id``: another claimed or running task of its project whose
    paths overlap it, read under :data:`PATH_CLAIM_LOCK`; None when the claim stands.

    The claim's own check reads the snapshot its statement started with, so two workers claiming
    overlapping tasks at once each miss the other's claim. Confirming one claim at a time, each
    after its claim committed (or within its transaction, which holds the lock to the end), the
    later of two overlapping claims always sees the earlier; a claim confirmed while an
    overlapping one is not yet confirmed may be given back too (over-serialising, never under).
    """
    session.execute(text(LOCK_FOR_CONFIRMING))
    return session.scalar(_OVERLAPPING_CLAIM, {"claimed_task": task_id})


def claim_stands(uow: UnitOfWork, task_id: int) -> bool:
    """PostgreSQL, after a claim that committed on its own: True when no overlapping claim is seen (read as
    :func:`overlapping_claim` reads it, lock first) — one short transaction on the driver connection.

    The common answer costs two prepared statements and no ORM session; a conflict seen here is
    settled by :func:`overlapping_claim` again, in the transaction that gives the claim back.
    """
    with uow.db.autocommit.connection() as driver, driver.transaction():
        driver.execute(LOCK_FOR_CONFIRMING)
        return driver.execute(_overlapping_claim_statement().sql, {"claimed_task": task_id}).fetchone() is None


def _overlapping_claim_query():
    """Built once: making the aliases and the query per call cost more than the database's work.

    Another task's rows that its project holds (``held_project_id``: claimed or running, kept by
    triggers) — found by ``ix_task_paths_held`` — against the claimed task's own rows.
    """
    mine, held, me = (aliased(TaskPath), aliased(TaskPath), aliased(Task))
    return (
        select(held.task_id).select_from(me)
        .join(mine, mine.task_id == me.id)
        .join(held, (held.held_project_id == me.project_id) & (held.task_id != me.id))
        .where(me.id == bindparam("claimed_task"),
               or_(func.substr(held.prefix, 1, func.length(mine.prefix)) == mine.prefix,
                   func.substr(mine.prefix, 1, func.length(held.prefix)) == held.prefix))
        .order_by(held.task_id).limit(1))


_OVERLAPPING_CLAIM = _overlapping_claim_query()
LOCK_FOR_CONFIRMING = f"SELECT pg_advisory_xact_lock({PATH_CLAIM_LOCK})"


@lru_cache(maxsize=1)
def _overlapping_claim_statement() -> DriverStatement:
    return DriverStatement(_OVERLAPPING_CLAIM)
