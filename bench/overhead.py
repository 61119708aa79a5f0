"""Orchestration overhead: plain ``phaseloom run`` with a no-op agent against a shell loop of the same git work.

    python bench/overhead.py                              # 20 tickets, 3 rounds, about 2 minutes
    python bench/overhead.py --tickets 40 --rounds 5 --variants keyword-memory
    python bench/overhead.py --rounds 0 --profile /tmp/overhead.raw   # only the profiled run

Every ticket of a fresh project (git repository, SQLite, ``tests/data/agent_e2e.yaml``) gets one task;
the agent is ``sh -c 'echo x > hello.txt; echo done'``. So a task takes phaseloom's whole path: claim,
worktree, instructions, agent, commit, merge into the ticket branch, gate (``hello.txt``), DONE, next.
The baseline is one ``sh`` loop with the 6 git commands that path needs (``branch``, ``worktree add
-b``, the agent, ``add -A``, ``commit``, ``worktree add`` of the integration worktree, ``merge
--no-ff``, ``test -f``); a second loop runs the 27 git commands phaseloom ran per task before
it read git's own files for its checks (now 8; tests/workspaces/test_workspaces.py counts them). Neither side
removes worktrees (the run loop never calls ``WorkspaceService.remove``).

This process launches every side in the same rounds, in a rotating order, on fresh repositories
(set-up not timed): wall is ``perf_counter`` around the child, CPU ``getrusage(RUSAGE_CHILDREN)``.
Each side runs with 1, 2 and N tickets: *startup* is the 1-ticket run, *2nd task* the 2-ticket run
minus it (the first task whose instructions find a memory, so the default configuration loads the
embedding model there), *per task* (N run - 2-ticket run) / (N - 2); for phaseloom also the *cadence*,
the median gap between task completions inside the N run. Ratios are taken within each round against
the 6-call loop; the report gives medians. Variants: ``default`` and ``keyword-memory``
(``PHASELOOM_MEMORY_SEMANTIC=false``). Figures and findings: docs/benchmarks.md, "Orchestration overhead".
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder would lead sys.path and bench/queue.py would shadow the standard
# library's ``queue``; the repository root goes there instead (for ``tests.runtimes.agent_e2e``).
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse
import itertools
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

AGENT_SCRIPT = "echo x > hello.txt; echo done"
AGENT_COMMAND = f"sh -c {shlex.quote(AGENT_SCRIPT)}"
VARIANTS = {"default": {}, "keyword-memory": {"PHASELOOM_MEMORY_SEMANTIC": "false"}}
RUN_SECONDS = 600  # a run that takes longer is broken, not slow

# The baseline: the git work of phaseloom's path, per ticket, in one shell process. Identity and
# trailers as WorkspaceService sets them, so the commits are alike.
GIT_LOOP = r"""
set -e
cd "$REPO"
export GIT_AUTHOR_NAME=loop GIT_AUTHOR_EMAIL=loop@agents.phaseloom.invalid
export GIT_COMMITTER_NAME=phaseloom GIT_COMMITTER_EMAIL=phaseloom@phaseloom.invalid
i=1
while [ "$i" -le "$TICKETS" ]; do
  ticket="ticket/$i"; branch="phase-implementation-loop-t$i"
  ws="$WORK/$branch"; integration="$WORK/_integration/repo-ticket-$i"
  git branch "$ticket" main
  git worktree add -q -b "$branch" "$ws" "$ticket"
  (cd "$ws" && sh -c "$AGENT_SCRIPT" >/dev/null)
  git -C "$ws" add -A
  git -C "$ws" commit -q --no-verify -m done --trailer "Phase: PHASE_IMPLEMENTATION" --trailer "Task: $i"
  git worktree add -q "$integration" "$ticket"
  git -C "$integration" merge -q --no-ff --no-edit -m "Merge $branch into $ticket" "$branch"
  test -f "$integration/hello.txt"
  i=$((i + 1))
done
"""

# The same loop with every git command phaseloom's path runs per task, in its order (from the call
# log ``--profile`` prints: WorkspaceService.prepare, the command runtime's change check, integrate,
# and the integration worktree looked up again for the gate). The gap between the two loops is
# what the number of git processes costs; the gap between this one and phaseloom is everything else.
GIT_LOOP_AS_PHASELOOM = r"""
set -e
cd "$REPO"
export GIT_AUTHOR_NAME=loop GIT_AUTHOR_EMAIL=loop@agents.phaseloom.invalid
export GIT_COMMITTER_NAME=phaseloom GIT_COMMITTER_EMAIL=phaseloom@phaseloom.invalid
i=1
while [ "$i" -le "$TICKETS" ]; do
  ticket="ticket/$i"; branch="phase-implementation-loop-t$i"
  ws="$WORK/$branch"; integration="$WORK/_integration/repo-ticket-$i"
  git rev-parse --verify --quiet "refs/heads/$ticket" || true
  git symbolic-ref --quiet --short HEAD >/dev/null
  git rev-parse --verify --quiet refs/heads/main >/dev/null
  git branch "$ticket" main
  git worktree prune
  git rev-parse --verify --quiet "refs/heads/$branch" || true
  git rev-parse --verify --quiet "refs/heads/$branch" || true
  git worktree add -q -b "$branch" "$ws" "$ticket"
  git -C "$ws" rev-parse HEAD >/dev/null
  (cd "$ws" && sh -c "$AGENT_SCRIPT" >/dev/null)
  git -C "$ws" status --porcelain >/dev/null
  git -C "$ws" add --all
  git -C "$ws" status --porcelain >/dev/null
  git -C "$ws" commit -q --no-verify -m done --trailer "Phase: PHASE_IMPLEMENTATION" --trailer "Task: $i"
  git -C "$ws" rev-parse HEAD >/dev/null
  git rev-parse --verify --quiet "refs/heads/$ticket" >/dev/null
  git worktree prune
  git rev-parse --verify --quiet "refs/heads/$ticket" >/dev/null
  git rev-parse --verify --quiet "refs/heads/$ticket" >/dev/null
  git worktree add -q "$integration" "$ticket"
  git -C "$integration" status --porcelain >/dev/null
  git -C "$integration" diff --name-only "HEAD...$branch" >/dev/null
  git -C "$integration" merge -q --no-ff --no-edit -m "Merge $branch into $ticket" "$branch"
  git -C "$integration" rev-parse HEAD >/dev/null
  git rev-parse --verify --quiet "refs/heads/$ticket" >/dev/null
  git worktree prune
  git -C "$integration" rev-parse --show-toplevel >/dev/null
  git -C "$integration" symbolic-ref --quiet --short HEAD >/dev/null
  test -f "$integration/hello.txt"
  i=$((i + 1))
done
"""
BASELINE, AS_PHASELOOM = "git loop", "git, 27 calls"
LOOPS = {BASELINE: GIT_LOOP, AS_PHASELOOM: GIT_LOOP_AS_PHASELOOM}


@dataclass(frozen=True)
class Cost:
    """Wall and CPU seconds of a child process (and everything it waited for)."""

    wall: float
    cpu: float

    def __sub__(self, other: Cost) -> Cost:
        return Cost(self.wall - other.wall, self.cpu - other.cpu)

    def __truediv__(self, n: float) -> Cost:
        return Cost(self.wall / n, self.cpu / n)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_child(argv: list[str], *, cwd: Path, env: dict[str, str]) -> Cost:
    cpu, began = children_cpu(), time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_SECONDS + 60,
                          check=False)
    cost = Cost(time.perf_counter() - began, children_cpu() - cpu)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return cost


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


# -- phaseloom --------------------------------------------------------------------------------
def phaseloom_project(folder: Path, tickets: int):
    """``tests/runtimes/agent_e2e.py``'s project (e2e workflow, fresh repository, SQLite), ``tickets`` tickets."""
    from phaseloom.db.engine import Database
    from phaseloom.services.tickets import TicketService
    from phaseloom.db.unit_of_work import UnitOfWork
    from tests.runtimes.agent_e2e import make_project

    project = make_project(folder, title="ticket 1")
    db = Database.connect(project.url)
    try:
        for n in range(2, tickets + 1):
            TicketService(UnitOfWork(db)).create_ticket("demo", f"ticket {n}")
    finally:
        db.dispose()
    return project


def run_argv() -> list[str]:
    return [sys.executable, "-m", "phaseloom.cli.app", "run", "--agent-command", AGENT_COMMAND,
            "--workers", "1", "--validators", "0", "--quiet", "--until-idle", "--max-seconds", str(RUN_SECONDS)]


def run_phaseloom(folder: Path, tickets: int, variant: str) -> tuple[Cost, float | None]:
    """The run's cost, and the median time between consecutive task completions after the second."""
    project = phaseloom_project(folder, tickets)
    cost = timed_child(run_argv(), cwd=project.folder, env=project.env(VARIANTS[variant]))
    check_phaseloom(project, tickets)
    return cost, completion_cadence(project)


def completion_cadence(project) -> float | None:
    """Seconds from one task's completion to the next, median over tasks 3..N (``completed_at``).

    Read inside the run, so the start-up and the second task's model load, which vary by a second
    or more from run to run, are not in it; one worker runs one task at a time, so each gap is one
    whole cycle (gate and move of the previous ticket, claim, worktree, agent, commit, merge).
    """
    done = sorted(t.completed_at for t in project.tasks())[1:]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(done)]
    return statistics.median(gaps) if gaps else None


def check_phaseloom(project, tickets: int) -> None:
    """Every task completed, every ticket DONE with the agent's file merged into its branch."""
    from sqlalchemy import select

    from phaseloom.db.models import Ticket

    statuses = [t.status for t in project.tasks()]
    if statuses != ["completed"] * tickets:
        raise RuntimeError(f"phaseloom run left tasks {statuses}")
    db = project.database()
    try:
        with db.sessions() as session:
            phases = session.scalars(select(Ticket.phase_id)).all()
    finally:
        db.dispose()
    if phases != ["PHASE_DONE"] * tickets:
        raise RuntimeError(f"phaseloom run left tickets in {phases}")
    for n in range(1, tickets + 1):
        if project.ticket_file("hello.txt", n) != "x\n":
            raise RuntimeError(f"hello.txt not merged into ticket/{n}")


# -- the shell loop ---------------------------------------------------------------------------
def init_repo(repo: Path) -> None:
    """A repository like ``make_project``'s: one commit on ``main``."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# demo\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "initial")


def run_git_loop(folder: Path, tickets: int, script: str = GIT_LOOP) -> Cost:
    repo, work = folder / "repo", folder / "workspaces"
    init_repo(repo)
    env = {**os.environ, "REPO": str(repo), "WORK": str(work), "TICKETS": str(tickets),
           "AGENT_SCRIPT": AGENT_SCRIPT, "HOME": str(folder), "GIT_TERMINAL_PROMPT": "0"}
    cost = timed_child(["sh", "-c", script], cwd=folder, env=env)
    for n in range(1, tickets + 1):
        if git(repo, "show", f"ticket/{n}:hello.txt") != "x\n":
            raise RuntimeError(f"the git loop did not merge hello.txt into ticket/{n}")
    return cost


# -- rounds -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    """One side's costs in one round."""

    startup: Cost      # the 1-ticket run
    second: Cost       # 2-ticket run - 1-ticket run
    per_task: Cost     # (N-ticket run - 2-ticket run) / (N - 2)
    amortized: Cost    # N-ticket run / N
    cadence: float     # phaseloom: median gap between task completions in the N run; loops: per_task.wall

    @classmethod
    def of(cls, runs: dict[int, Cost], n: int, cadence: float | None) -> Split:
        per_task = (runs[n] - runs[2]) / (n - 2)
        return cls(runs[1], runs[2] - runs[1], per_task, runs[n] / n, per_task.wall if cadence is None else cadence)


def one_round(index: int, tickets: int, variants: list[str], scratch: Path) -> dict[str, Split]:
    """Every side at 1, 2 and ``tickets`` tickets; at each size the sides take turns going first."""
    sides = [*LOOPS, *variants]
    order = sides[index % len(sides):] + sides[:index % len(sides)]
    jobs = [(side, size) for size in (1, 2, tickets) for side in order]
    runs: dict[str, dict[int, Cost]] = {side: {} for side in sides}
    cadences: dict[str, float | None] = {}
    for number, (side, size) in enumerate(jobs):
        folder = scratch / f"r{index}-{number}"
        if side in LOOPS:
            runs[side][size] = run_git_loop(folder, size, LOOPS[side])
        else:
            runs[side][size], cadence = run_phaseloom(folder, size, side)
            if size == tickets:
                cadences[side] = cadence
        shutil.rmtree(folder, ignore_errors=True)
    return {side: Split.of(runs[side], tickets, cadences.get(side)) for side in sides}


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms"


def report_round(index: int, splits: dict[str, Split]) -> None:
    loop = splits[BASELINE].per_task
    for side, s in splits.items():
        ratio = "" if side == BASELINE else (f" | ratio wall {s.per_task.wall / loop.wall:.1f}x cpu "
                                             f"{s.per_task.cpu / loop.cpu:.1f}x cadence {s.cadence / loop.wall:.1f}x")
        print(f"round {index + 1} {side:>14}: startup {ms(s.startup.wall)} (cpu {ms(s.startup.cpu)}) | "
              f"2nd task {ms(s.second.wall)} (cpu {ms(s.second.cpu)}) | per task {ms(s.per_task.wall)} "
              f"(cpu {ms(s.per_task.cpu)}) | cadence {ms(s.cadence)} | N-run / N {ms(s.amortized.wall)}{ratio}",
              flush=True)


def median_ratio(rounds: list[dict[str, Split]], side: str, over: str, pick) -> str:
    """The median over rounds of ``pick(side) / pick(over)``, each ratio taken within its round."""
    if side == over:
        return "-"
    return f"{statistics.median(pick(r[side]) / pick(r[over]) for r in rounds):.1f}x"


def report_medians(rounds: list[dict[str, Split]], tickets: int) -> None:
    print(f"\n== median of {len(rounds)} rounds, {tickets} tickets, one worker ==")
    print(f"{'':>14} | {'startup':>9} | {'2nd task':>9} | {'per task':>9} | {'cpu/task':>9} | {'N-run/N':>9} | "
          f"{'ratio':>6} | {'cpu ratio':>9} | {'cadence':>9} | {'cad. ratio':>10} | {'N-run/N ratio':>13} | "
          f"{'vs 27 calls':>11}")
    wall, cpu, cadence = (lambda s: s.per_task.wall), (lambda s: s.per_task.cpu), (lambda s: s.cadence)
    for side in rounds[0]:
        def med(pick, side=side):
            return ms(statistics.median(pick(r[side]) for r in rounds))
        vs_27 = median_ratio(rounds, side, AS_PHASELOOM, cadence) if side not in LOOPS else "-"
        print(f"{side:>14} | {med(lambda s: s.startup.wall):>9} | {med(lambda s: s.second.wall):>9} | "
              f"{med(wall):>9} | {med(cpu):>9} | {med(lambda s: s.amortized.wall):>9} | "
              f"{median_ratio(rounds, side, BASELINE, wall):>6} | {median_ratio(rounds, side, BASELINE, cpu):>9} | "
              f"{med(cadence):>9} | {median_ratio(rounds, side, BASELINE, cadence):>10} | "
              f"{median_ratio(rounds, side, BASELINE, lambda s: s.amortized.wall):>13} | {vs_27:>11}")
    print(f"(ratios: over the {BASELINE!r}'s per task, taken within each round; target <= 2x. cadence: median gap "
          f"between task completions after the second, inside the N run (loops: their per task). "
          f"vs 27 calls: cadence over {AS_PHASELOOM!r}'s per task)")


# -- profiling --------------------------------------------------------------------------------
# Logs the subcommand and its first argument unless that is a path or a branch name
# ("rev-parse --verify", "worktree prune", "branch").
GIT_WRAPPER = """#!/bin/sh
case "$2" in */*|"") echo "$1" ;; *) echo "$1 $2" ;; esac >> "$GIT_CALL_LOG"
exec {git} "$@"
"""
PROFILE_PARENTS = ("Orchestrator.run", "Orchestrator.tick", "TaskExecutor._execute", "WorkspaceService.integrate",
                   "WorkspaceService.prepare", "TaskExecutor._assignment")


def profile_run(folder: Path, tickets: int, variant: str, out: Path) -> None:
    """One N-ticket run under ``py-spy record --idle`` (not timed), with every git call counted."""
    project = phaseloom_project(folder, tickets)
    wrapper_dir, calls = folder / "gitwrap", folder / "git-calls.log"
    wrapper_dir.mkdir()
    (wrapper_dir / "git").write_text(GIT_WRAPPER.replace("{git}", shutil.which("git")))
    (wrapper_dir / "git").chmod(0o755)
    env = project.env({**VARIANTS[variant], "GIT_CALL_LOG": str(calls)})
    env["PATH"] = f"{wrapper_dir}{os.pathsep}{env['PATH']}"
    rate = 200
    argv = ["py-spy", "record", "--idle", "-r", str(rate), "-f", "raw", "-o", str(out), "--", *run_argv()]
    subprocess.run(argv, cwd=project.folder, env=env, check=True, capture_output=True, timeout=RUN_SECONDS + 60)
    check_phaseloom(project, tickets)
    print(f"\n== profile: {tickets} tickets, variant {variant}, py-spy --idle at {rate} Hz -> {out} ==")
    print("(milliseconds of samples per task: one-time costs, e.g. Orchestrator.start, are spread over N)")
    for parent in PROFILE_PARENTS:
        total, children = stack_children(out, parent)
        print(f"{parent}: {total * 1e3 / rate / tickets:,.0f} ms per task")
        for name, samples in children[:6]:
            print(f"    {samples * 1e3 / rate / tickets:>7,.1f} ms  {name}")
    lines = calls.read_text().splitlines()
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    print(f"git processes: {len(lines) / tickets:.1f} per task (the git loop: 6), by command:")
    print("    " + ", ".join(f"{c / tickets:g} {name}" for name, c in sorted(counts.items(), key=lambda kv: -kv[1])))


def stack_children(raw: Path, parent: str) -> tuple[int, list[tuple[str, int]]]:
    """Samples whose stack holds ``parent``, and how they split over its direct callees."""
    total, children = 0, {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame.split(" (")[0] for frame in stack.split(";")]
        if parent not in frames:
            continue
        at = frames.index(parent)
        callee = frames[at + 1] if at + 1 < len(frames) else "(itself)"
        total += int(count)
        children[callee] = children.get(callee, 0) + int(count)
    return total, sorted(children.items(), key=lambda kv: -kv[1])


# -- main -------------------------------------------------------------------------------------
def measure(tickets: int, rounds: int, variants: list[str], quiet: bool = False) -> list[dict[str, Split]]:
    """``rounds`` rounds; each a dict side -> :class:`Split`. Callable from tests."""
    if tickets < 3:
        raise ValueError("per task needs at least 3 tickets (it is measured beyond the second)")
    results = []
    with tempfile.TemporaryDirectory(prefix="plbench-overhead-") as scratch:
        for index in range(rounds):
            results.append(one_round(index, tickets, variants, Path(scratch)))
            if not quiet:
                report_round(index, results[-1])
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20, help="N: tickets (one task each) in the large run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="default,keyword-memory",
                        help=f"phaseloom configurations, comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--profile", type=Path, help="also profile one N-ticket run (py-spy raw output here)")
    parser.add_argument("--profile-variant", default="default", choices=list(VARIANTS))
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    if args.profile and not shutil.which("py-spy"):
        parser.error("--profile needs py-spy on PATH (pip install py-spy)")
    if args.rounds:
        report_medians(measure(args.tickets, args.rounds, variants), args.tickets)
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="plbench-profile-") as scratch:
            profile_run(Path(scratch) / "p", args.tickets, args.profile_variant, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
