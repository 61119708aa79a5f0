"""The run loop: reap leases, move tickets on, and dispatch claimed tasks to runtimes concurrently.

One :class:`Orchestrator` keeps a pool of agents per phase or capability (sizes from
:class:`PoolSpec`), each registered in the database like any agent. Every tick it reaps expired
leases, marks silent agents offline, starts and progresses tickets through their gates, and
gives every free agent a task to run on a thread. A worker process runs the same loop with
ticket housekeeping off (``manage_tickets=False``): all coordination is in the database, so
any number of workers and one orchestrator cooperate without double claims.

Stopping (:meth:`Orchestrator.request_stop`, wired to Ctrl-C / SIGTERM by the CLI) stops
claiming, lets running tasks finish up to ``grace_seconds``, then deregisters the agents, which
returns any task still held to the queue: nothing is lost or left claimed.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from concurrent.futures import Future, ThreadPoolExecutor, wait

from sqlalchemy import func, select

from phaseloom.db.engine import Database
from phaseloom.db.retry import call_with_retry
from phaseloom.db.models import Project, Task
from phaseloom.orchestrator.config import DEFAULT_POOLS, OrchestratorConfig, PoolSpec
from phaseloom.orchestrator.execution import TaskExecutor
from phaseloom.orchestrator.merge_queue import MergeQueueRunner
from phaseloom.orchestrator.tickets import OPEN_STATUSES, TicketMover
from phaseloom.runtimes.base import Runtime
from phaseloom.services.agents import AgentService
from phaseloom.queue import QueueService
from phaseloom.queue import HELD_FOR_MERGE
from phaseloom.db.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_POOLS", "Orchestrator", "OrchestratorConfig", "PoolSpec"]  # the pools and settings live in config.py


class Orchestrator:
    def __init__(self, db: Database, runtimes: Callable[[PoolSpec], Runtime], config: OrchestratorConfig) -> None:
        self.db = db
        self.config = config
        self.runtimes = runtimes
        self._stop = threading.Event()
        # Set when a task finishes or a stop is asked: the loop then ticks at once instead of
        # waiting out the poll interval (the next claim follows a finished task without delay).
        self._wake = threading.Event()
        self._agents: dict[str, PoolSpec] = {}
        self._running: dict[str, Future] = {}
        self._running_task: dict[str, int] = {}  # agent id -> the task its future runs
        self._last_heartbeat = 0.0
        self._last_housekeeping = float("-inf")
        self._runtimes: dict[str, Runtime] = {}      # pool name -> its runtime, resolved before registering
        self._paused_until: dict[str, float] = {}    # pool name -> monotonic time its rate-limit pause ends
        self._last_diagnosis = time.monotonic()
        self._last_guardian = time.monotonic()
        size = sum(p.size for p in config.pools)
        self._pool = ThreadPoolExecutor(max_workers=max(1, size), thread_name_prefix="phaseloom-agent")
        self.executor = TaskExecutor(db, config)
        self._finished = 0  # tasks whose outcome the loop has collected
        self.tickets = TicketMover(db, self.executor, config.project_id)
        self.merges = MergeQueueRunner(db, config)  # finished tickets' branches landing, one step per tick

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, settings=self.config.settings)

    def reader(self) -> UnitOfWork:
        """A read-only transaction: on SQLite it takes no write lock, so agents' writes never wait for it."""
        return UnitOfWork(self.db, readonly=True)

    # -- life cycle --------------------------------------------------------------
    def start(self) -> None:
        """Resolve the runtimes, register this process's agents, check MCP reachability (idempotent).

        A runtime that cannot work (unknown name, program not installed) is refused before any
        agent registers; an MCP agent that cannot reach phaseloom's MCP server is refused before
        the first claim, and the agents registered for it are removed again.
        """
        if self._agents:
            return
        self._end_orphaned_agents()
        for spec in self.config.pools:
            runtime = self.runtimes(spec)
            if hasattr(runtime, "validate"):
                runtime.validate()
            self._runtimes[spec.name] = runtime
        suffix = uuid.uuid4().hex[:6]
        for spec in self.config.pools:
            for n in range(spec.size):
                agent = AgentService(self.uow()).register_agent(
                    f"{spec.name}-{n + 1}", agent_id=f"{spec.name}-{n + 1}-{suffix}", agent_type=spec.agent_type,
                    runtime=spec.runtime, phase_id=spec.phase_id, capabilities=list(spec.capabilities),
                    project_id=self.config.project_id, host=self.config.host)
                self._agents[agent.id] = spec
        try:
            self._check_mcp()
        except Exception:
            self.shutdown()
            raise
        self._freeze_heap()

    def _freeze_heap(self) -> None:
        if self.config.freeze_heap:
            gc.freeze()

    def _check_mcp(self) -> None:
        """initialize + tools/list once, as one of our agents, for the pools whose agents report over MCP."""
        if not self.config.check_mcp:
            return
        for agent_id, spec in self._agents.items():
            if not getattr(self._runtimes[spec.name], "reports_via_mcp", False):
                continue
            # Imported only when needed: the MCP SDK costs most of a second to import.
            from phaseloom.domain.errors import InvalidInput
            from phaseloom.runtimes.mcp_check import check_mcp, mcp_launch_for
            from phaseloom.services.auth import AuthService

            token = AuthService(self.uow()).issue_agent_token(agent_id)
            result = check_mcp(mcp_launch_for(self.db.url, self.config.mcp_url), token)
            if not result.ok:
                raise InvalidInput(f"agents of pool {spec.name!r} cannot reach phaseloom's MCP server: {result.error}")
            return  # one check covers every pool: they share the server and the database

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, until: Callable[[], bool] | None = None, max_seconds: float | None = None) -> None:
        """Tick until stopped, ``until()`` is true or ``max_seconds`` pass; then shut down cleanly."""
        self.start()
        deadline = time.monotonic() + max_seconds if max_seconds else None
        try:
            while not self._stop.is_set():
                call_with_retry(self.tick, what="orchestrator tick")  # rides out a database restart
                if until and not self._running and until():
                    break
                if deadline and time.monotonic() > deadline:
                    break
                self._wake.wait(self.config.poll_seconds)
                self._wake.clear()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop claiming, let running tasks finish within the grace period, then release what is left."""
        self._stop.set()
        running = list(self._running.values())
        if running:
            wait(running, timeout=self.config.grace_seconds)
        self._collect_finished()
        if self.config.manage_tickets:
            try:
                self.tickets.collect_outputs()
            except Exception:  # noqa: BLE001 - the database may be away: stopping must still release
                log.exception("could not collect the outputs of the last completed tasks")
        agents = AgentService(self.uow())
        for agent_id in list(self._agents):
            released = call_with_retry(lambda a=agent_id: agents.deregister(a, reason="orchestrator stopped"),
                                       what="deregistering agents")
            if released:
                log.info("released tasks %s held by %s", released, agent_id)
        self._end_own_agents()  # after the release, so their runs find the tasks given back, no retry spent
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._agents.clear()

    # -- one tick ----------------------------------------------------------------
    def tick(self) -> int:
        """One round of housekeeping and dispatch; returns how many tasks were dispatched.

        Free agents claim first, so a finished task's successor does not wait for the housekeeping;
        they claim again at the end for tasks the housekeeping queued (a ticket started or moved on).
        """
        self._collect_finished()
        dispatched = self._dispatch()
        if time.monotonic() - self._last_housekeeping >= self.config.housekeeping_seconds:
            self._housekeeping()
        queued = False
        if self.config.manage_tickets:
            self.tickets.collect_outputs()
            queued = self.progress_tickets()
            self.merges.poke()
            self._diagnose_now_and_then()
            self._guard_now_and_then()
        if time.monotonic() - self._last_heartbeat > self.config.stale_agent_seconds / 4:
            for agent_id in list(self._agents):
                AgentService(self.uow()).heartbeat(agent_id)
            self._last_heartbeat = time.monotonic()
        return dispatched + (self._dispatch() if queued else 0)

    def _housekeeping(self) -> None:
        from phaseloom.queue import RetryService

        self._end_orphaned_agents()  # before their tasks' leases are reaped and the tasks run again
        reaped = set(QueueService(self.uow()).reap_expired_leases())
        # Their agents are gone (ended above, or with their machine) unless one still runs here: that
        # one's own worker stops it on its next heartbeat and commits what it left.
        if reaped:
            self.executor.save_abandoned(dict.fromkeys(reaped - self._live_tasks()),
                                         "lease expired: its agent stopped sending heartbeats")
        for task_id in self.executor.merge_left_work():  # after their agents were ended, above
            self.tickets.completed(task_id)
        RetryService(self.uow()).fail_timed_out_tasks()  # a run past its timeout is a retryable failure
        self._close_unanswered_questions()
        AgentService(self.uow()).mark_stale_agents(self.config.stale_agent_seconds)
        self.executor.clean_finished_worktrees()
        self._last_housekeeping = time.monotonic()

    def _close_unanswered_questions(self) -> None:
        """A question nobody answered within its phase's input_timeout_seconds blocks its ticket, with why."""
        from phaseloom.services.human_input import HumanInputService

        for question in HumanInputService(self.uow()).close_unanswered():
            log.warning("task %s: %s", question.task_id, question.reason)

    def _end_orphaned_agents(self) -> None:
        """End agents a dead worker left running (their pid files are in our log folder)."""
        from phaseloom.runtimes import agent_pids

        ended = agent_pids.end_orphans(agent_pids.pid_folder(self.config.log_dir))
        # Saved only now that they are ended: nothing they write afterwards is missed or left for a re-run.
        self.executor.save_abandoned({agent.task_id: agent.agent_id for agent in ended},
                                     "lease lost: its worker is gone and its agent was ended")

    def _live_tasks(self) -> set[int]:
        """Tasks an agent still works on here: this process's, and those of live workers' recorded agents."""
        from phaseloom.runtimes import agent_pids

        return set(self._running_task.values()) | agent_pids.running_tasks(agent_pids.pid_folder(self.config.log_dir))

    def _end_own_agents(self) -> None:
        """End our agents still working past the grace period (their whole process groups)."""
        from phaseloom.runtimes import processes

        processes.end_all(set(self._agents))

    def _diagnose_now_and_then(self) -> None:
        every = self.config.diagnose_every_seconds
        if not every or time.monotonic() - self._last_diagnosis < every:
            return
        self._last_diagnosis = time.monotonic()
        from phaseloom.services.diagnostics import DiagnosticsService

        DiagnosticsService(self.uow()).diagnose(project_id=self.config.project_id)

    def _guard_now_and_then(self) -> None:
        from phaseloom.services.guardian import GuardianService

        every = self.config.guardian_interval_seconds
        every = self.config.settings.guardian_interval_seconds if every is None else every
        if not every or time.monotonic() - self._last_guardian < every:
            return
        self._last_guardian = time.monotonic()
        try:
            GuardianService(self.uow(), settings=self.config.settings, log_dir=self.config.log_dir).assess_running()
        except Exception:  # noqa: BLE001 - a Guardian failure must not stop the loop that runs the work
            log.exception("Guardian round failed")

    def _dispatch(self) -> int:
        dispatched = 0
        self._resume_pools()
        for agent_id, spec in self._agents.items():
            if self._stop.is_set() or agent_id in self._running or self._paused(spec):
                continue
            task = QueueService(self.uow()).claim_next_task(agent_id, lease_seconds=self.config.lease_seconds)
            if task is None:
                continue
            runtime = self._runtimes.get(spec.name) or self.runtimes(spec)
            future = self._pool.submit(self.executor.execute, task.id, agent_id, runtime)
            future.add_done_callback(lambda _: self._wake.set())
            self._running[agent_id] = future
            self._running_task[agent_id] = task.id
            dispatched += 1
        return dispatched

    def _paused(self, spec: PoolSpec) -> bool:
        return time.monotonic() < self._paused_until.get(spec.name, 0.0)

    def _collect_finished(self) -> None:
        for agent_id, future in list(self._running.items()):
            if future.done():
                del self._running[agent_id]
                task_id = self._running_task.pop(agent_id, None)
                if future.exception() is not None:
                    log.error("agent %s crashed: %s", agent_id, future.exception())
                    continue
                outcome = future.result()
                # Noted first: the future is gone from _running, so nothing after this may lose the completion.
                if task_id is not None and getattr(outcome, "final_status", None) == "completed":
                    self.tickets.completed(task_id)
                if getattr(outcome, "rate_limited", False):
                    self._pause(self._agents[agent_id], outcome.retry_after_seconds, task_id, outcome.error or "")
                self._finished += 1
                if self._finished <= 2:  # the first tasks import what every later one uses
                    self._freeze_heap()

    def _pause(self, spec: PoolSpec, seconds: float | None, task_id: int | None = None, error: str = "") -> None:
        """A rate limit holds for the whole pool (same CLI, same account): no claims until it resets.
        Its task went back to the queue with no retry spent (``release_rate_limited``); ``pool.paused``
        tells the board and the run's display until when."""
        from phaseloom.services.pool_pauses import PoolPauseService

        wait = self.config.rate_limit_pause_seconds if seconds is None else seconds
        until = max(self._paused_until.get(spec.name, 0.0), time.monotonic() + wait)
        self._paused_until[spec.name] = until
        log.warning("pool %s paused for %.0fs after a rate limit", spec.name, until - time.monotonic())
        reason = "usage limit" if "usage" in error.lower() else "rate limit"
        at = datetime.now(timezone.utc) + timedelta(seconds=until - time.monotonic())
        _tell(lambda: PoolPauseService(self.uow()).paused(spec.name, at, reason, project_id=self.config.project_id,
                                                          task_id=task_id, runtime=spec.runtime), "pool.paused")

    def _resume_pools(self) -> None:
        """Pools whose pause is over claim again; ``pool.resumed`` says so."""
        from phaseloom.services.pool_pauses import PoolPauseService

        for name, until in list(self._paused_until.items()):
            if time.monotonic() >= until:
                del self._paused_until[name]
                _tell(lambda n=name: PoolPauseService(self.uow()).resumed(n, project_id=self.config.project_id),
                      "pool.resumed")
                log.info("pool %s resumed after its rate-limit pause", name)

    def idle(self) -> bool:
        """Nothing left to do in scope: no task pending, claimed, running or under review."""
        with self.reader() as uow:
            query = select(func.count()).select_from(Task).where(Task.status.in_(OPEN_STATUSES) | HELD_FOR_MERGE)
            if self.config.project_id is not None:
                query = query.where(Task.project_id == self.config.project_id)
            return not self._running and uow.session.scalar(query) == 0 and not (self.config.manage_tickets and self.merges.busy())

    def progress_tickets(self) -> bool:
        """Start and move tickets on (see :class:`TicketMover`); True when that queued tasks."""
        return self.tickets.progress()

    # -- reading -----------------------------------------------------------------
    @property
    def agent_ids(self) -> list[str]:
        return list(self._agents)

    @property
    def busy(self) -> int:
        return sum(1 for f in self._running.values() if not f.done())


def project_repo(db: Database, project_id: int) -> str:
    with UnitOfWork(db) as uow:
        return uow.session.get(Project, project_id).repo_path


def _tell(record: Callable[[], object], event: str) -> None:
    """Write a pool's pause or resume event; the pause itself is held here, so a database away at that
    moment (or any failure) costs the board its line, never the loop's tick or the dispatch."""
    try:
        record()
    except Exception:  # noqa: BLE001 - see above
        log.warning("could not record %s", event, exc_info=True)
