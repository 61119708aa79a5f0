"""A worker or orchestrator process for the fault tests and the soak benchmark.

``python -m tests.faults.fault_worker URL --role worker|orchestrator [--runtime scripted|command] [--delay S]
[--linger S] [--lease S] [--agents N]``

It is :class:`~phaseloom.orchestrator.loop.Orchestrator` exactly as ``phaseloom worker`` / ``run``
build it, with one difference: the agents take ``--delay`` seconds longer, so a test can kill a
worker while a task is in its hands. ``--runtime scripted`` (the default) runs the scripted agent
in process; ``--runtime command`` runs :mod:`tests.faults.mcp_agent` as a ``command`` runtime agent,
a process of its own that reports through ``phaseloom mcp``. Either says ``running task N`` as it
starts one. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from phaseloom.db.engine import Database
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
from phaseloom.runtimes.base import Assignment, RunOutcome
from phaseloom.runtimes.command import CommandRuntime
from phaseloom.runtimes.scripted import ScriptedRuntime
from tests.faults.mcp_agent import DELAY_VARIABLE, LINGER_VARIABLE

MCP_AGENT = Path(__file__).with_name("mcp_agent.py")


def _announce(assignment: Assignment) -> None:
    print(f"running task {assignment.task_id} attempt {assignment.attempt}", flush=True)


class SlowScripted(ScriptedRuntime):
    """The scripted agent, taking ``delay`` seconds longer."""

    def __init__(self, db: Database, delay: float) -> None:
        super().__init__(db)
        self.delay = delay

    def run(self, assignment: Assignment) -> RunOutcome:
        _announce(assignment)
        time.sleep(self.delay)
        return super().run(assignment)


class SlowMcpAgent(CommandRuntime):
    """:mod:`tests.faults.mcp_agent` run by the command runtime, working ``delay`` seconds before it reports
    and ``linger`` seconds after."""

    def __init__(self, url: str, delay: float, linger: float = 0.0) -> None:
        # Its `phaseloom mcp` finds the database as any agent's does: in the environment.
        super().__init__([sys.executable, str(MCP_AGENT)],
                         env={DELAY_VARIABLE: str(delay), LINGER_VARIABLE: str(linger), "PHASELOOM_DATABASE_URL": url})

    def run(self, assignment: Assignment) -> RunOutcome:
        _announce(assignment)
        return super().run(assignment)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--role", choices=("worker", "orchestrator"), default="worker")
    parser.add_argument("--runtime", choices=("scripted", "command"), default="scripted")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--linger", type=float, default=0.0, help="command runtime: seconds after the report")
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=1)
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--home", default=".")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    db = Database.connect(args.url)
    worker = args.role == "worker"
    home = Path(args.home).resolve()  # agents run in their worktrees, not in this folder
    pools = (PoolSpec("worker", size=args.agents, runtime=args.runtime),) if worker else ()
    config = OrchestratorConfig(
        pools=pools, manage_tickets=not worker, poll_seconds=args.poll, lease_seconds=args.lease, grace_seconds=10,
        diagnose_every_seconds=0, workspace_root=home / "workspaces", log_dir=home / "logs")
    command = args.runtime == "command"
    runtime = SlowMcpAgent(args.url, args.delay, args.linger) if command else SlowScripted(db, args.delay)
    orchestrator = Orchestrator(db, lambda spec: runtime, config)
    signal.signal(signal.SIGTERM, lambda *_: orchestrator.request_stop())
    orchestrator.start()
    print(f"ready {args.role} {' '.join(orchestrator.agent_ids)}", flush=True)
    orchestrator.run()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
