"""A worker or orchestrator process for the fault tests and the soak benchmark.

``python -m tests.faults.fault_worker URL --role worker|orchestrator [--delay S] [--lease S] [--agents N]``

It is :class:`~phaseloom.orchestrator.loop.Orchestrator` exactly as ``phaseloom worker`` / ``run``
build it, with one difference: the scripted agents first sleep ``--delay`` seconds, so a test can
kill a worker while a task is in its hands. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import time
from pathlib import Path

from phaseloom.db.engine import Database
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
from phaseloom.runtimes.base import Assignment, RunOutcome
from phaseloom.runtimes.scripted import ScriptedRuntime


class SlowScripted(ScriptedRuntime):
    """The scripted agent, taking ``delay`` seconds longer."""

    def __init__(self, db: Database, delay: float) -> None:
        super().__init__(db)
        self.delay = delay

    def run(self, assignment: Assignment) -> RunOutcome:
        print(f"running task {assignment.task_id} attempt {assignment.attempt}", flush=True)
        time.sleep(self.delay)
        return super().run(assignment)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--role", choices=("worker", "orchestrator"), default="worker")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=1)
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--home", default=".")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    db = Database.connect(args.url)
    worker = args.role == "worker"
    home = Path(args.home)
    config = OrchestratorConfig(
        pools=(PoolSpec("worker", size=args.agents),) if worker else (), manage_tickets=not worker,
        poll_seconds=args.poll, lease_seconds=args.lease, grace_seconds=10, diagnose_every_seconds=0,
        workspace_root=home / "workspaces", log_dir=home / "logs")
    orchestrator = Orchestrator(db, lambda spec: SlowScripted(db, args.delay), config)
    signal.signal(signal.SIGTERM, lambda *_: orchestrator.request_stop())
    orchestrator.start()
    print(f"ready {args.role} {' '.join(orchestrator.agent_ids)}", flush=True)
    orchestrator.run()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
