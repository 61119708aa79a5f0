"""The run loop's merge queue: one step at a time on a thread of its own, so a long check never holds
up a claim (the loop only looks whether a step is running, and starts the next one when it is not)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from phaseloom.db.engine import Database
from phaseloom.db.retry import is_transient
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.merge_queue import MergeQueueService, StepOutcome

if TYPE_CHECKING:
    from phaseloom.orchestrator.config import OrchestratorConfig

log = logging.getLogger(__name__)


class MergeQueueRunner:
    def __init__(self, db: Database, config: "OrchestratorConfig") -> None:
        self.db = db
        self.config = config
        self._thread: threading.Thread | None = None
        self.last: StepOutcome | None = None  # what the latest step did (for the loop's log and tests)

    def service(self) -> MergeQueueService:
        root = self.config.workspace_root or self.config.settings.workspaces_home
        return MergeQueueService(UnitOfWork(self.db, settings=self.config.settings), root=root)

    def poke(self) -> bool:
        """Start one step when none is running and an entry waits; True when one was started."""
        if self.running or not self.service().has_waiting(self.config.project_id):
            return False
        self._thread = threading.Thread(target=self._step, name="phaseloom-merge-queue", daemon=True)
        self._thread.start()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def busy(self) -> bool:
        """A step runs, or an entry waits for one: the run is not idle."""
        return self.running or self.service().has_waiting(self.config.project_id)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _step(self) -> None:
        try:
            self.last = self.service().step(project_id=self.config.project_id)
            if self.last is not None:
                log.info("merge queue: ticket %s %s (%s)", self.last.ticket_id, self.last.status, self.last.reason)
        except Exception as exc:  # noqa: BLE001 - logged; the entry stays waiting and the next poke retries it
            log.log(logging.WARNING if is_transient(exc) else logging.ERROR, "merge queue step failed", exc_info=True)
