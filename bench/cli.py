"""CLI speed: CPU time of one ``phaseloom`` command against ``python -c pass``, on SQLite with 1,000 tickets.

    python bench/cli.py                    # 7 rounds, about a minute
    python bench/cli.py --rounds 15 --tickets 1000
    git archive b5805b2 | tar -x -C /tmp/before && python bench/cli.py --before /tmp/before

A fresh folder gets ``phaseloom init``, one project and ``--tickets`` tickets (and a task on each of the
first 50), made in this process through the services (set-up, not timed), and each tree's package is
byte-compiled, as an install is (PYTHONDONTWRITEBYTECODE would otherwise make every command compile
it). Then every round runs each command once as a subprocess (``python -m phaseloom.cli.app ...``, in
a rotating order; with ``--before DIR`` also the same command on the code in DIR, in the same round),
the baseline first:
CPU is the child's user + system time (``getrusage(RUSAGE_CHILDREN)`` deltas), wall ``perf_counter``.
The report gives, per command, the median CPU and wall over the rounds, the median's excess over
``python -c pass`` measured in the same rounds, and the issue-17 target. Writes use a different ticket
in every round. Figures: docs/benchmarks.md, "CLI speed".
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder would lead sys.path and bench/queue.py would shadow ``queue``.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time

HELP_TARGET, READ_TARGET, WRITE_TARGET = 0.10, 0.15, 0.25


def commands(round_no: int) -> list[tuple[str, list[str], float]]:
    """(label, argv after ``phaseloom``, target CPU seconds); each write touches its own ticket per round."""
    return [
        ("--help", ["--help"], HELP_TARGET),
        ("project list", ["project", "list"], READ_TARGET),
        ("ticket list", ["ticket", "list", "--project", "demo"], READ_TARGET),
        ("ticket show", ["ticket", "show", "7"], READ_TARGET),
        ("task list", ["task", "list"], READ_TARGET),
        ("board", ["board", "demo"], READ_TARGET),
        ("ticket history", ["ticket", "history", "7"], READ_TARGET),
        ("task show", ["task", "show", "1"], READ_TARGET),
        ("workflow list", ["workflow", "list"], READ_TARGET),
        ("workflow show", ["workflow", "show", "software_development"], READ_TARGET),
        ("phases list", ["phases", "list"], READ_TARGET),
        ("agent list", ["agent", "list"], READ_TARGET),
        ("ticket create", ["ticket", "create", "demo", f"bench ticket {round_no}"], WRITE_TARGET),
        ("ticket block", ["ticket", "block", str(100 + round_no), "--reason", "bench"], WRITE_TARGET),
        # --force: the column's WIP limit (5) is reached after a few rounds; a forced move is recorded.
        ("ticket move", ["ticket", "move", str(200 + round_no), "requirements", "--force"], WRITE_TARGET),
    ]


def child_cpu(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def seed(folder: Path, tickets: int, env: dict[str, str]) -> None:
    """``phaseloom init``, project ``demo`` and the tickets, made fast through the services."""
    subprocess.run([sys.executable, "-m", "phaseloom.cli.app", "init"], env=env, cwd=folder, check=True,
                   capture_output=True)
    os.environ["PHASELOOM_DATABASE_URL"] = env["PHASELOOM_DATABASE_URL"]
    from phaseloom.config import get_settings
    from phaseloom.db.engine import Database
    from phaseloom.services.projects import ProjectService
    from phaseloom.queue import QueueService
    from phaseloom.services.tickets import TicketService
    from phaseloom.db.unit_of_work import UnitOfWork

    db = Database.connect(env["PHASELOOM_DATABASE_URL"])
    uow = UnitOfWork(db)
    ProjectService(uow).create_project("demo", "software_development")
    tickets_service, queue = TicketService(uow), QueueService(uow, get_settings())
    with uow:
        for n in range(tickets):
            ticket = tickets_service.create_ticket("demo", f"ticket {n}", priority="MEDIUM")
            if n < 50:
                queue.create_task(ticket.id, ticket.phase_id, f"task {n}", created_by="bench")
    db.dispose()


def compile_like_an_install(tree: Path) -> None:
    """Write the bytecode of ``tree``'s package, as ``pip install`` does: with PYTHONDONTWRITEBYTECODE set
    (as in some shells and containers) a source checkout would otherwise compile every module on every
    command, ~50 ms that no installed phaseloom pays."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "phaseloom")], check=True,
                   capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--before", type=Path, default=None,
                        help="a checkout of the code to compare with (e.g. git archive of main), run in the same rounds")
    args = parser.parse_args()
    trees = {"now": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base_env = {**os.environ, "PHASELOOM_DATABASE_URL": f"sqlite:///{folder}/p.db", "COLUMNS": "120"}
        seed(folder, args.tickets, {**base_env, "PYTHONPATH": str(ROOT)})
        for tree in trees.values():
            compile_like_an_install(tree)
        baseline: list[float] = []
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        targets: dict[str, float] = {}
        for round_no in range(args.rounds):
            baseline.append(child_cpu([sys.executable, "-c", "pass"], base_env, folder)[0])
            todo = [(tree, *command) for command in commands(round_no) for tree in trees]
            shift = round_no % len(todo)
            for tree, label, argv, target in todo[shift:] + todo[:shift]:
                targets[label] = target
                env = {**base_env, "PYTHONPATH": str(trees[tree])}
                if tree == "before" and argv[:2] in (["ticket", "block"], ["ticket", "move"]):
                    argv = [*argv[:2], str(int(argv[2]) + 400), *argv[3:]]  # its own ticket
                samples.setdefault((label, tree), []).append(
                    child_cpu([sys.executable, "-m", "phaseloom.cli.app", *argv], env, folder))
        report(args, baseline, samples, targets, list(trees))


def report(args, baseline, samples, targets, trees) -> None:
    base = statistics.median(baseline)
    print(f"{args.tickets} tickets, {args.rounds} rounds; python -c pass: {base * 1000:.0f} ms CPU (median)")
    print(f"{'command':<16}{'code':<8}{'CPU ms':>8}{'wall ms':>9}{'- pass':>8}{'x pass':>8}{'target':>8}  verdict")
    for label in targets:
        for tree in trees:
            runs = samples[(label, tree)]
            cpu = statistics.median(c for c, _ in runs)
            wall = statistics.median(w for _, w in runs)
            verdict = "ok" if cpu <= targets[label] else f"over by {(cpu - targets[label]) * 1000:.0f} ms"
            print(f"{label:<16}{tree:<8}{cpu * 1000:>8.0f}{wall * 1000:>9.0f}{(cpu - base) * 1000:>8.0f}"
                  f"{cpu / base:>8.1f}{targets[label] * 1000:>8.0f}  {verdict}")


if __name__ == "__main__":
    main()
