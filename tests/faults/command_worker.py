"""A worker running ``command`` runtime agents (a small script), for the orphaned-agent fault tests.

``python -m tests.faults.command_worker URL --home DIR [--lease S] [--grace S]``

It is :class:`~phaseloom.orchestrator.loop.Orchestrator` as ``phaseloom run`` builds it (it moves
tickets on and runs one agent), logging to ``DIR/logs``. The agent is :data:`AGENT`: it appends
``<pid> <pids of earlier agents still alive>`` to ``DIR/runs.txt``; the very first agent then works
for a minute (long enough to be orphaned), every later one ends at once. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from phaseloom.db.engine import Database
from phaseloom.orchestrator.loop import Orchestrator, OrchestratorConfig, PoolSpec
from phaseloom.runtimes.command import CommandRuntime

AGENT = """import os, sys, time
runs = sys.argv[1]
earlier = [int(line.split()[0]) for line in open(runs)] if os.path.exists(runs) else []

def alive(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

with open(runs, "a") as out:
    out.write(" ".join(str(p) for p in [os.getpid(), *[p for p in earlier if alive(p)]]) + "\\n")
time.sleep(60 if not earlier else 0.1)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--home", required=True)
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument("--grace", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    home = Path(args.home).resolve()
    (home / "agent.py").write_text(AGENT)
    db = Database.connect(args.url)
    config = OrchestratorConfig(
        pools=(PoolSpec("worker", size=1),), manage_tickets=True, poll_seconds=0.1, lease_seconds=args.lease,
        grace_seconds=args.grace, diagnose_every_seconds=0, housekeeping_seconds=0.5, check_mcp=False,
        workspace_root=home / "workspaces", log_dir=home / "logs")
    runtime = CommandRuntime([sys.executable, str(home / "agent.py"), str(home / "runs.txt")])
    orchestrator = Orchestrator(db, lambda spec: runtime, config)
    signal.signal(signal.SIGTERM, lambda *_: orchestrator.request_stop())
    orchestrator.start()
    print("ready", flush=True)
    orchestrator.run()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
