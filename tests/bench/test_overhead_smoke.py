"""The orchestration overhead benchmark, light: ``bench/overhead.py`` with 3 tickets and one round.

Real ``phaseloom run`` processes, real git, SQLite; about 15 s on 2 cores. The figures are not
checked against a target here (3 tickets are too few to separate start-up from per-task cost);
what is checked is that both sides did the work they are timed on, which the bench verifies after
every run, and that its checks would notice a run that did not.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def overhead():
    spec = importlib.util.spec_from_file_location("bench_overhead", ROOT / "bench" / "overhead.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_one_light_round_times_both_sides_after_checking_their_work(overhead, capsys):
    rounds = overhead.measure(3, 1, ["keyword-memory"], quiet=True)
    # measure() raises unless every phaseloom task completed, every ticket reached DONE and every
    # ticket branch (phaseloom's and the loops') holds the agent's hello.txt.
    (splits,) = rounds
    assert set(splits) == {"git loop", "git, 27 calls", "keyword-memory"}
    for split in splits.values():
        assert split.startup.wall > 0 and split.startup.cpu > 0
        assert split.amortized.wall > 0 and split.amortized.cpu > 0
    # Start-up is a Python process with its imports on one side, a shell on the other.
    assert splits["keyword-memory"].startup.wall > splits["git loop"].startup.wall
    overhead.report_medians(rounds, 3)
    table = capsys.readouterr().out
    assert "keyword-memory" in table and "git, 27 calls" in table and "target <= 2x" in table


def test_the_check_refuses_a_project_whose_tickets_were_not_run(overhead, tmp_path):
    project = overhead.phaseloom_project(tmp_path / "p", 2)
    with pytest.raises(RuntimeError, match="left tasks"):
        overhead.check_phaseloom(project, 2)


def test_a_bench_needs_tickets_beyond_the_second(overhead):
    with pytest.raises(ValueError, match="at least 3 tickets"):
        overhead.measure(2, 1, ["keyword-memory"], quiet=True)
