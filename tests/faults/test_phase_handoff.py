"""The next phase starts from its ticket's branch with the previous phase's work merged into it.

An MCP agent's own ``complete_task`` completes its task while the worker running that agent has yet
to wait for it to exit and merge its branch. The ticket mover used to move the ticket on at once: an
idle worker then prepared the next phase's worktree from a ticket branch without that work, the two
merges conflicted and the ticket reached DONE without it (6 of 6 hand-offs here). Now the task holds
its ticket until its worker says the work is merged (``tasks.awaiting_merge``). An agent that goes
on a moment after its report, as CLIs writing their last message do, makes the race certain here.
"""

from __future__ import annotations

import pytest

from phaseloom.db.engine import Database
from tests.faults.checks import assert_reported_and_merged, assert_work_accounted_for
from tests.faults.support import Processes, prepare, tickets_done, wait_for
from tests.workspaces.test_workspaces import make_repo

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_next_phase_starts_from_the_previous_phases_merged_work(db_url, tmp_path):
    db = Database.connect(db_url)
    procs = Processes(tmp_path)
    repo = make_repo(tmp_path / "repo")
    workers = ("worker0", "worker1")  # one of them idle when the next phase's task appears
    try:
        prepare(db, tmp_path, 1, repo=repo, phases=2)
        procs.worker("orchestrator", db_url, "--role", "orchestrator")
        for name in workers:
            procs.worker(name, db_url, "--runtime", "command", "--linger", "2", "--lease", "20")
        wait_for(lambda: tickets_done(db) == (1, 1), 60, "the ticket to reach DONE")
        exits = {name: procs.stop(name) for name in ("orchestrator", *workers)}  # their last merges done
        assert set(exits.values()) == {0}, exits
        assert_work_accounted_for(db)
        assert_reported_and_merged(db, repo)
    finally:
        procs.close()
        db.dispose()
