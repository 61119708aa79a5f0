"""Wall time of ``phaseloom memory add`` / ``memory search`` as a user runs them (a fresh process each).

Printed against two baselines measured in the same run: ``python -c pass`` (the interpreter) and
``phaseloom project list`` (the CLI's own start-up and database open, no embedding). Modes:

- ``in-process``: ``PHASELOOM_MEMORY_WORKER_IDLE_SECONDS=0``, every command loads the model (the old way);
- ``worker``: the default; the first command starts the embedding worker (timed apart as
  ``first call``), later ones ask it.

    python bench/memory_cli.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "phaseloom.cli.app"]


def timed(argv: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def median_of(argv: list[str], cwd: Path, env: dict, runs: int) -> float:
    return statistics.median(timed(argv, cwd, env) for _ in range(runs))


def add_argv(i: int) -> list[str]:
    return CLI + ["memory", "add", f"benchmark note {i}: retry the flaky upload step with backoff {i * 7}",
                  "--project", "bench"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phaseloom-memcli-") as tmp:
        cwd = Path(tmp)
        env = dict(os.environ, PHASELOOM_HOME=str(cwd / ".phaseloom"),
                   PHASELOOM_DATABASE_URL=f"sqlite:///{cwd / '.phaseloom' / 'phaseloom.db'}")
        timed(CLI + ["init"], cwd, env)
        timed(CLI + ["project", "create", "bench"], cwd, env)
        search = CLI + ["memory", "search", "how do I deal with an unreliable upload", "--project", "bench"]
        rows: list[tuple[str, float]] = [
            ("python -c pass", median_of([sys.executable, "-c", "pass"], cwd, env, args.runs)),
            ("phaseloom project list", median_of(CLI + ["project", "list"], cwd, env, args.runs)),
        ]
        local = dict(env, PHASELOOM_MEMORY_WORKER_IDLE_SECONDS="0")
        rows.append(("memory add, in-process model", statistics.median(
            timed(add_argv(100 + i), cwd, local) for i in range(max(2, args.runs // 2)))))
        rows.append(("memory search, in-process model", median_of(search, cwd, local, max(2, args.runs // 2))))
        rows.append(("memory add, first call (starts worker)", timed(add_argv(0), cwd, env)))
        rows.append(("memory add, worker", statistics.median(
            timed(add_argv(i), cwd, env) for i in range(1, args.runs + 1))))
        rows.append(("memory search, worker", median_of(search, cwd, env, args.runs)))
        subprocess.run(CLI + ["memory", "worker", "stop"], check=False, cwd=cwd, env=env, capture_output=True)
    interpreter, cli = rows[0][1], rows[1][1]
    print(f"{'command':42} {'wall s':>8} {'x python':>9} {'- project list':>15}")
    for name, seconds in rows:
        print(f"{name:42} {seconds:8.3f} {seconds / interpreter:9.1f} {seconds - cli:+15.3f}")


if __name__ == "__main__":
    main()
