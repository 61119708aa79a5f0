"""Test support: run worker processes that start together, each logging to its own file.

The multi-process queue tests (every task claimed once, overlapping globs never together) drive real
spawned processes against one database URL; this is the one harness they share.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path

Worker = Callable[[str, str, str], None]


def _start_when_all_are_ready(worker: Worker, url: str, agent_id: str, log_path: str, ready, start) -> None:
    # Start together: a process still importing when the others have drained the queue would do nothing.
    ready.put(agent_id)
    start.wait(60)
    worker(url, agent_id, log_path)


def run_together(worker: Worker, url: str, agent_ids: list[str], log_dir: Path, *,
                 timeout: float = 120) -> dict[str, Path]:
    """Run ``worker(url, agent_id, log_path)`` in one spawned process per agent, all released at once once
    each has imported; wait up to ``timeout`` seconds for them, fail unless every one exited cleanly, and
    return each agent's log file. ``worker`` must be importable (a module-level function)."""
    context = multiprocessing.get_context("spawn")
    ready, start = context.Queue(), context.Event()
    logs = {agent: log_dir / f"{agent}.log" for agent in agent_ids}
    processes = [context.Process(target=_start_when_all_are_ready,
                                 args=(worker, url, agent, str(logs[agent]), ready, start)) for agent in agent_ids]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            ready.get(timeout=60)
        start.set()
        for process in processes:
            process.join(timeout=timeout)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]
    return logs
