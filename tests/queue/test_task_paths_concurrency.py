"""Four real processes drain tasks with path globs: overlapping ones never run at once, disjoint ones do.

Each worker logs when it holds a task (after its claim returned, until before it completes it): the
logged window lies inside the task's claimed-or-running time, so two overlapping logged windows of
tasks whose globs overlap would be a real breach. Each task is held 30 ms, so a breach would show.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from phaseloom.db.engine import Database
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain.task_paths import literal_prefix, prefixes_conflict
from phaseloom.queue import QueueService
from phaseloom.services.agents import AgentService
from phaseloom.services.tickets import TicketService
from tests.queue.together import run_together

WORKERS = 4
PER_GROUP = 6
HOLD_SECONDS = 0.03
GROUPS = [["src/auth/**"], ["src/auth/login.py"], ["src/*.py"], ["docs/**"], ["docs/guide.md", "README.md"],
          ["tests/unit/**"], ["tests/**", "setup.cfg"], ["web/*.html"]]


def overlapping(a: list[str], b: list[str]) -> bool:
    return any(prefixes_conflict(literal_prefix(x), literal_prefix(y)) for x in a for y in b)


def hold_tasks(url: str, agent_id: str, log_path: str) -> None:
    """Worker process: claim, start, hold, complete until nothing is pending; log each held window."""
    db = Database.connect(url)
    queue = QueueService(UnitOfWork(db))
    deadline = time.monotonic() + 90
    with open(log_path, "a", buffering=1) as log:
        while time.monotonic() < deadline:
            task = queue.claim_next_task(agent_id)
            if task is None:
                if not queue.count_by_status().get("pending"):
                    break
                time.sleep(0.005)
                continue
            queue.start_task(task.id, agent_id)
            began = time.monotonic()
            time.sleep(HOLD_SECONDS)
            log.write(f"{task.id} {began} {time.monotonic()}\n")
            queue.complete_task(task.id, agent_id, {"by": agent_id})
    db.dispose()


@pytest.mark.slow
def test_overlapping_globs_never_run_together_and_disjoint_ones_do(db, uow, project, tmp_path: Path):
    queue = QueueService(uow)
    tickets = [TicketService(uow).create_ticket(project.id, f"ticket {n}").id for n in range(3)]
    globs: dict[int, list[str]] = {}
    for n, group in itertools.product(range(PER_GROUP), GROUPS):
        task = queue.create_task(tickets[n % len(tickets)], "PHASE_REQUIREMENTS", f"{group} #{n}", paths=group)
        globs[task.id] = group
    agents = [AgentService(uow).register_agent(f"worker-{n}").id for n in range(WORKERS)]
    logs = run_together(hold_tasks, db.url, agents, tmp_path, timeout=150)

    windows = [(int(task_id), float(began), float(ended)) for path in logs.values()
               for task_id, began, ended in (line.split() for line in path.read_text().splitlines())]
    assert sorted(w[0] for w in windows) == sorted(globs)  # every task held once
    together = [(a, b) for a, b in itertools.combinations(windows, 2) if a[1] < b[2] and b[1] < a[2]]
    breaches = [(a[0], b[0]) for a, b in together if overlapping(globs[a[0]], globs[b[0]])]
    assert breaches == []
    assert together, "no two tasks ever ran side by side"  # disjoint ones did
    assert set(queue.count_by_status()) == {"completed"}
