"""The queue's statements: which tasks an agent may claim, and PostgreSQL's one-statement steps.

The eligibility rule (:func:`eligible`) is written once and serves both backends. On SQLite a
claim is the ``UPDATE … RETURNING`` of :func:`claim_update`, run on the driver connection
(phaseloom/queue/_sqlite_statements.py). On PostgreSQL the hot steps are single data-modifying
statements that also write their outbox event:

- :func:`postgres_claim` — claim the best task *and* insert its ``task.assigned`` event;
- :func:`postgres_complete` — complete a task, release its dependents *and* insert its
  ``task.completed`` event.

They run as :class:`DriverStatement`: compiled by SQLAlchemy once per shape, then executed on
the psycopg connection of the unit of work's transaction. SQLAlchemy's per-statement work
(compiling the cache key, result processing, ORM bookkeeping) cost more client CPU than the
database spent on the statement; with several workers per core that CPU *is* the throughput
(docs/benchmarks.md, "Task queue").

The statements that set a task's status (the claim, the completion) are run by
:class:`~phaseloom.queue._lifecycle.TaskLifecycle` only.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (ARRAY, JSON, DateTime, String, all_, bindparam, case, cast, exists, func, insert, literal,
                        literal_column, or_, select, true, update)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased, attributes, configure_mappers
from sqlalchemy.sql.elements import Grouping

from phaseloom.db.models import (Agent, PhaseRow, SystemEvent, Task, TaskCapability, TaskDependency, TaskPath,
                                  Ticket)
from phaseloom.db.models.costs import Budget, budget_covers
from phaseloom.db.types import UTCDateTime, as_utc
from phaseloom.db.unit_of_work import EVENT_ORDER_LOCK, UnitOfWork
from phaseloom.domain.reviews import VALIDATOR_TASK_TYPES
from phaseloom.domain.tasks import ACTIVE_STATUSES, MERGE_HOLDING_STATUSES, TaskStatus

log = logging.getLogger(__name__)

# Literal SQL (not bound parameters) so both planners can match the partial index predicate.
READY = literal_column("tasks.status = 'pending' AND tasks.unmet_dependencies = 0")
TASK_COLUMNS = tuple(Task.__table__.c)
_TASK_MAPPER = Task.__mapper__
_TASK_KEYS = tuple(_TASK_MAPPER.get_property_by_column(c).key for c in TASK_COLUMNS)
_EVENT_COLUMNS = ["event_type", "entity_type", "entity_id", "project_id", "ticket_id", "phase_id", "payload",
                  "created_at"]


def eligible(by_phase: bool, by_project: bool, reviews_only: bool = False, *, for_postgres: bool = False):
    """Ready, due, ticket unblocked, capabilities covered, no exhausted budget; ids of such tasks.

    ``reviews_only``: a validator agent claims validation tasks only, so it never does work it
    would then be barred from reviewing.

    ``for_postgres`` shapes the rule for a prepared statement: the agent's capabilities are one
    array parameter (on SQLite one JSON list, read by ``json_each``: never an expanding ``IN``
    list, so the SQL is the same whatever the agent), and "due" compares with the database's
    ``now()`` rather than a parameter. With a parameter there, PostgreSQL never trusted the
    generic plan and re-planned every claim, doubling its server time; ``now()`` is
    estimated the same way in both plans. (The database's clock and the workers' are the
    same machine's, or NTP-close: a retry may become due a clock skew early or late.)
    """
    due = Task.next_attempt_at <= (func.now() if for_postgres else bindparam("claim_now"))
    query = (
        select(Task.id)
        .join(Ticket, Ticket.id == Task.ticket_id)
        .where(READY, due, Ticket.open_blockers == 0)
    )
    if by_phase:
        query = query.where(Task.phase_id == bindparam("claim_phase"))
    if by_project:
        query = query.where(Task.project_id == bindparam("claim_project"))
    if reviews_only:
        query = query.where(or_(*(Task.task_type == t for t in VALIDATOR_TASK_TYPES)))
    if for_postgres:
        uncovered = TaskCapability.capability != all_(bindparam("claim_capabilities", type_=ARRAY(String)))
    else:
        capabilities = func.json_each(bindparam("claim_capabilities", type_=JSON)).table_valued("value")
        uncovered = TaskCapability.capability.not_in(select(capabilities.c.value))
    missing = exists().where(TaskCapability.task_id == Task.id, uncovered)
    # No exhausted budget covers the task (its project, ticket, phase or the claiming agent): a
    # probe of the flag on the small budgets table, never a sum over cost records.
    over_budget = exists().where(Budget.exhausted.is_(True), budget_covers(
        Task.project_id, Task.ticket_id, Task.phase_id, bindparam("claim_agent")))
    return query.where(or_(Task.capability_count == 0, ~missing), ~over_budget,
                       or_(Task.path_count == 0, ~path_overlap(Task, for_postgres=for_postgres)))


_MINE = aliased(TaskPath, name="mine")
_HELD = aliased(TaskPath, name="held")


def path_overlap(task, *, for_postgres: bool = False):
    """Whether one of ``task``'s path prefixes conflicts with one held by a claimed or running task of its project.

    Two prefixes conflict when one starts with the other (phaseloom/domain/task_paths.py). The
    database starts from the candidate's own few rows (by the primary key), then looks only at the
    rows its project's active tasks hold (``ix_task_paths_held``, kept by triggers, migration
    0014_paths_held): the held prefixes that start with the candidate's are one range seek; those it
    starts with sort at or before it, a walk of the index that stops at the candidate's prefix. The
    cost no longer grows with a probe per active task for each candidate passed over.
    """
    return (select(literal_column("1")).select_from(_MINE)
            .where(_MINE.task_id == task.id, held_conflict(_MINE.prefix, task.project_id, for_postgres=for_postgres))
            .correlate_except(_MINE).limit(1).exists())


def held_conflict(prefix, project_id, *, for_postgres: bool, besides=None):
    """A held prefix of ``project_id`` (of another task than ``besides``) that starts with ``prefix``, or
    that ``prefix`` starts with.

    On PostgreSQL the comparisons are byte-wise (``~>=~``…), as the index's ``varchar_pattern_ops``
    orders it, whatever the database's collation; SQLite compares text byte-wise already.
    """
    def compare(op: str, left, right):
        return left.op(f"~{op}~" if for_postgres else op, is_comparison=True)(right)

    # Parenthesised: PostgreSQL gives ``||`` and ``~<~`` the same precedence (left to right).
    end = Grouping(prefix.concat(func.chr(0x10FFFF) if for_postgres else func.char(0x10FFFF)))
    held_here = [_HELD.held_project_id == project_id]
    if besides is not None:
        held_here.append(_HELD.task_id != besides)
    # LIMIT 1 on each: PostgreSQL may not turn such a subquery into a hashed subplan over every held row.
    under_it = (select(literal_column("1")).select_from(_HELD)
                .where(*held_here, compare(">=", _HELD.prefix, prefix), compare("<", _HELD.prefix, end))
                .correlate_except(_HELD).limit(1))
    above_it = (select(literal_column("1")).select_from(_HELD)
                .where(*held_here, compare("<=", _HELD.prefix, prefix),
                       func.substr(prefix, 1, func.length(_HELD.prefix)) == _HELD.prefix)
                .correlate_except(_HELD).limit(1))
    return or_(under_it.exists(), above_it.exists())


def claim_update(by_phase: bool, by_project: bool, reviews_only: bool, *, for_postgres: bool):
    best = (eligible(by_phase, by_project, reviews_only, for_postgres=for_postgres)
            .order_by(Task.score.desc(), Task.id).limit(1).with_for_update(skip_locked=True, of=Task))
    return (
        update(Task)
        .where(Task.id == best.scalar_subquery(), Task.status == TaskStatus.PENDING.value)
        .values(status=TaskStatus.CLAIMED.value, assigned_agent_id=bindparam("claim_agent"),
                claimed_at=bindparam("claim_now"), lease_expires_at=bindparam("claim_lease_until"))
    )


# A task its agent reported done whose work its worker has yet to merge (``tasks.awaiting_merge``):
# it holds its ticket in the phase, and is taken over when its worker's lease runs out.
HELD_FOR_MERGE = Task.awaiting_merge.is_(True) & Task.status.in_(MERGE_HOLDING_STATUSES)


class ClaimingAgent(NamedTuple):
    """What decides which tasks an agent may claim."""

    id: str
    phase_id: str | None
    project_id: int | None
    capabilities: list[str] | None
    agent_type: str
    # PostgreSQL: a digest of the fields above as the row holds them (AGENT_FINGERPRINT), which
    # the claim checks to know they are unchanged.
    fingerprint: str | None = None

    @property
    def shape(self) -> tuple[bool, bool, bool]:
        """(phase-specialised, project-bound, validator): one claim statement per shape."""
        return bool(self.phase_id), bool(self.project_id), self.agent_type == "validator"


def claim_parameters(agent: ClaimingAgent) -> dict[str, Any]:
    """The agent's values for :func:`postgres_claim` of its shape, including the unchanged-agent guard."""
    by_phase, by_project, _ = agent.shape
    params = {"claim_agent": agent.id, "claim_capabilities": list(agent.capabilities or []),
              "agent_fingerprint": agent.fingerprint}
    if by_phase:
        params["claim_phase"] = agent.phase_id
    if by_project:
        params["claim_project"] = agent.project_id
    return params


CLAIMING_AGENT = select(Agent.id, Agent.phase_id, Agent.project_id, Agent.capabilities, Agent.agent_type).where(
    Agent.id == bindparam("agent_id"))
# Every claim-relevant field of the agent's row in one value (the stored JSON text of the
# capabilities included), so the claim's guard is one comparison. A row's text form tells NULL
# from an empty string and quotes separators, so different fields never give the same text.
AGENT_FINGERPRINT = func.md5(cast(func.row(Agent.phase_id, Agent.project_id, Agent.agent_type, Agent.capabilities),
                                  String))


# -- PostgreSQL: one statement per step, event included -------------------------------------------
class DriverStatement:
    """A statement compiled once for PostgreSQL and run on the session's psycopg connection.

    Constants (statuses, ``LIMIT 1``, event names) are written into the SQL as literals; only
    the values that vary are parameters. That matters: psycopg prepares a statement after a
    few runs, and PostgreSQL keeps re-planning a prepared statement whose plan hinges on a
    parameter (an unknown ``LIMIT``), which cost more server time than running it.
    """

    def __init__(self, statement) -> None:
        compiled = statement.compile(dialect=postgresql.psycopg.dialect())
        sql = compiled.string
        self.required = frozenset(name for name, bind in compiled.binds.items() if bind.required)
        for name, bind in compiled.binds.items():
            if name not in self.required:
                literal = compiled.render_literal_value(bind.effective_value, bind.type)
                sql = sql.replace(f"%({name})s", literal.replace("%", "%%"))
        self.sql = sql
        # Driver rows skip the column types' result processing: these columns are made aware
        # UTC here, as the ORM would load them (db/types.py), whatever the session's TimeZone.
        self.timestamps = tuple(i for i, column in enumerate(getattr(statement, "selected_columns", ()))
                                if isinstance(column.type, UTCDateTime))

    def rows(self, uow: UnitOfWork, **params: Any) -> list[tuple]:
        """Run in ``uow``'s open transaction, or as a transaction of its own outside one."""
        if missing := self.required - params.keys():
            raise TypeError(f"missing statement parameters: {', '.join(sorted(missing))}")
        if log.isEnabledFor(logging.DEBUG):  # SQLAlchemy's echo does not see these statements
            log.debug("driver statement", extra={"sql": self.sql, "params": params})
        rows = uow.driver_rows(self.sql, params)
        return [self._in_utc(row) for row in rows] if self.timestamps else rows

    def _in_utc(self, row: tuple) -> tuple:
        values = list(row)
        for i in self.timestamps:
            if values[i] is not None:
                values[i] = as_utc(values[i])
        return tuple(values)


def _event_source(source, event_type: str, task_row, payload):
    """SELECT the columns of one outbox row per row of ``source``, taking the event-order lock first.

    The lock (see :mod:`phaseloom.db.unit_of_work`) is joined in so that it is held
    before the event's id is drawn from the sequence.
    """
    lock = select(func.pg_advisory_xact_lock_shared(EVENT_ORDER_LOCK).label("locked")).subquery("event_order")
    return select(literal(event_type), literal("task"), cast(task_row.id, String), task_row.project_id,
                  task_row.ticket_id, task_row.phase_id, payload, func.clock_timestamp()
                  ).select_from(source.join(lock, true()))


def _with_event(changed, event_type: str, payload_of, *, then=None):
    """``changed`` (an UPDATE of one task) RETURNING the task, plus the event recording it.

    ``then(changed_cte)`` may add CTEs that act on the changed row (they run only if it changed).
    """
    changed = changed.returning(*TASK_COLUMNS).cte("changed")
    source = _event_source(changed, event_type, changed.c, payload_of(changed.c))
    event = (insert(SystemEvent).from_select(_EVENT_COLUMNS, source)
             .returning(SystemEvent.id, SystemEvent.created_at).cte("event"))
    query = (select(changed, event.c.id.label("event_id"), event.c.created_at.label("event_created_at"))
             .select_from(changed.join(event, true())))
    return query.add_cte(*then(changed)) if then else query


@lru_cache(maxsize=8)
def postgres_claim(by_phase: bool, by_project: bool, reviews_only: bool) -> DriverStatement:
    """Claim the best eligible task and write its ``task.assigned`` event, in one statement."""
    # The caller's remembered agent fields must still be the row's (see TaskLifecycle.claim).
    agent_unchanged = exists().where(Agent.id == bindparam("claim_agent"),
                                     AGENT_FINGERPRINT == bindparam("agent_fingerprint", type_=String))
    claim = claim_update(by_phase, by_project, reviews_only, for_postgres=True).where(agent_unchanged)
    return DriverStatement(_with_event(claim, "task.assigned", lambda task: func.json_build_object(
        "agent_id", bindparam("claim_agent", type_=String), "attempt", task.retry_count + 1)))


@lru_cache(maxsize=1)
def postgres_claiming_agent() -> DriverStatement:
    """What decides which tasks an agent may claim (:class:`ClaimingAgent`)."""
    return DriverStatement(CLAIMING_AGENT.add_columns(AGENT_FINGERPRINT))


# Not a review phase: a phase whose configuration could switch review on (any value of
# ``requires_review`` but false or null) leaves the completion to the general path, where
# phaseloom/queue/_reviews.py reads the setting. A conservative pre-filter, not a second rule.
# The text search first: a configuration that never mentions the key needs no JSON parsing.
_NO_REVIEW_CONFIGURED = ~exists().where(
    PhaseRow.workflow_id == Task.workflow_id, PhaseRow.id == Task.phase_id,
    literal_column("strpos(phases.configuration::text, 'requires_review') > 0 AND "
                   "COALESCE(phases.configuration::jsonb -> 'requires_review', 'false') NOT IN ('false', 'null')"))


@lru_cache(maxsize=2)
def postgres_complete(check_owner: bool) -> DriverStatement:
    """Complete a plain task, release the tasks waiting on it and write ``task.completed``, in one statement.

    Returns no row unless the task is active (and, with ``check_owner``, assigned to
    ``agent_id``), is not a review task and is in a phase that cannot require review: every
    other case is the general path's, with its precise errors.
    """
    complete = (
        update(Task)
        .where(Task.id == bindparam("task_id"), or_(*(Task.status == s.value for s in ACTIVE_STATUSES)),
               *(Task.task_type != t for t in VALIDATOR_TASK_TYPES), _NO_REVIEW_CONFIGURED)
        .values(status=TaskStatus.COMPLETED.value, result=bindparam("result", type_=JSON),
                completed_at=bindparam("completed_at", type_=DateTime(timezone=True)),
                # kept while the worker has the work still to merge (see _lifecycle._lease_after_report)
                lease_expires_at=case((Task.awaiting_merge.is_(True), Task.lease_expires_at), else_=None),
                error=None)
    )
    if check_owner:
        # Written so no index matches it: the planner must find the task by its id, never by
        # walking the agent's (ever longer) list of tasks when its statistics are stale.
        complete = complete.where(func.coalesce(Task.assigned_agent_id, "") == bindparam("agent_id"))

    def release_dependents(changed):
        # UPDATE … FROM the dependency rows (one per waiting task: they are keyed by the pair).
        return [update(Task).where(TaskDependency.depends_on_id == select(changed.c.id).scalar_subquery(),
                                   Task.id == TaskDependency.task_id)
                .values(unmet_dependencies=Task.unmet_dependencies - 1).cte("released")]

    return DriverStatement(_with_event(complete, "task.completed", lambda task: func.json_build_object(
        "agent_id", task.assigned_agent_id, "task_type", task.task_type), then=release_dependents))


def adopt_task(session: Session | None, values: tuple) -> Task:
    """A :class:`Task` for a row a driver statement returned, as if the ORM had loaded it.

    An instance ``session`` already holds is refreshed in place, so nothing in the transaction
    keeps reading the state from before the statement. Otherwise the new instance is detached
    (it has its identity, so adding or merging it later never inserts it again); a later
    ``session.get`` in the same transaction reads the row the statement wrote. ``session`` is
    None after a statement that ran on its own.
    """
    row = dict(zip(_TASK_KEYS, values))
    key = _TASK_MAPPER.identity_key_from_primary_key((row["id"],))
    task = session.identity_map.get(key) if session is not None else None
    if task is not None:
        for name, value in row.items():
            attributes.set_committed_value(task, name, value)
        return task
    _configure_once()
    task = _TASK_MAPPER.class_manager.new_instance()
    # What the ORM's loader does: a fresh instance's loaded state is its __dict__, with no
    # history. Every column is loaded and Task has no relationships, so giving the state its
    # identity is all make_transient_to_detached() would do here (at a third of its cost).
    attributes.instance_dict(task).update(row)
    attributes.instance_state(task).key = key
    return task


@lru_cache(maxsize=1)
def _configure_once() -> None:
    configure_mappers()
