"""Wall time of ``phaseloom memory add`` / ``memory search`` as a user runs them (a fresh process each).

Printed against two baselines measured in the same run: ``python -c pass`` (the interpreter) and
``phaseloom project list`` (the CLI's own start-up and database open, no embedding). Modes:

- ``in-process``: ``PHASELOOM_MEMORY_WORKER_IDLE_SECONDS=0``, every command loads the model (the old way);
- ``worker``: the default without a server; the first command starts the worker (timed apart as
  ``first call``), later ones hand it the whole command (it keeps the database open and the model
  loaded; the command imports neither SQLAlchemy, the settings nor numpy);
- ``via serve``: ``PHASELOOM_API_URL`` points at a ``phaseloom serve`` on the same database (started
  here, on a free port, its model warmed by one search first): the command is one HTTP call.

``--baseline-src DIR`` also times the worker route of another checkout (``PYTHONPATH=DIR``, e.g. the
branch point from ``git archive``) in the same run, so the rows compare on the same load.

    python bench/memory_cli.py [--runs 5] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "phaseloom.cli.app"]


CPU_SECONDS: dict[float, float] = {}  # wall time of a timed command -> its CPU time (user + system)


def timed(argv: list[str], cwd: Path, env: dict) -> float:
    """The command's wall time; its CPU time is kept in CPU_SECONDS (on a loaded machine it is what
    the wall time would be on an idle one, for a command that runs on one core)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    CPU_SECONDS[elapsed] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed


def median_of(argv: list[str], cwd: Path, env: dict, runs: int) -> float:
    return statistics.median_low(timed(argv, cwd, env) for _ in range(runs))


def add_argv(i: int) -> list[str]:
    return CLI + ["memory", "add", f"benchmark note {i}: retry the flaky upload step with backoff {i * 7}",
                  "--project", "bench"]


SEARCH = ["memory", "search", "how do I deal with an unreliable upload", "--project", "bench"]


def worker_rows(label: str, cwd: Path, env: dict, runs: int, first_note: int) -> list[tuple[str, float]]:
    """The route without a server: the first command starts the worker, the next ones ask it."""
    rows = [(f"memory add, first call (starts worker){label}", timed(add_argv(first_note), cwd, env)),
            (f"memory add, worker{label}", statistics.median_low(
                timed(add_argv(first_note + i), cwd, env) for i in range(1, runs + 1))),
            (f"memory search, worker{label}", median_of(CLI + SEARCH, cwd, env, runs))]
    subprocess.run(CLI + ["memory", "worker", "stop"], check=False, cwd=cwd, env=env, capture_output=True)
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_rows(cwd: Path, env: dict, token: str, runs: int) -> list[tuple[str, float]]:
    """``PHASELOOM_API_URL`` set: each command is one call to a ``serve`` on the same database."""
    port = free_port()
    log = cwd / "serve.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(CLI + ["serve", "--port", str(port)], cwd=cwd, env=env,
                                  stdout=output, stderr=subprocess.STDOUT)
    via = dict(env, PHASELOOM_API_URL=f"http://127.0.0.1:{port}", PHASELOOM_API_TOKEN=token)
    try:
        deadline = time.monotonic() + 60
        while (probe := subprocess.run(CLI + SEARCH, cwd=cwd, env=via, capture_output=True, text=True)).returncode:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"phaseloom serve did not answer within 60 s: {probe.stderr.strip()}\n"
                                 f"serve's output:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)  # the first answered search also loads serve's model
        return [("memory add, via serve", statistics.median_low(
                    timed(add_argv(500 + i), cwd, via) for i in range(runs))),
                ("memory search, via serve", median_of(CLI + SEARCH, cwd, via, runs))]
    finally:
        server.terminate()
        server.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="another checkout whose worker route is timed in the same run (PYTHONPATH)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phaseloom-memcli-") as tmp:
        cwd = Path(tmp)
        env = dict(os.environ, PHASELOOM_HOME=str(cwd / ".phaseloom"),
                   PHASELOOM_DATABASE_URL=f"sqlite:///{cwd / '.phaseloom' / 'phaseloom.db'}")
        env.pop("PHASELOOM_API_URL", None)
        init = subprocess.run(CLI + ["init"], cwd=cwd, env=env, capture_output=True, text=True, check=True)
        token = next(line for line in init.stdout.splitlines() if line.startswith("plt_admin_"))
        timed(CLI + ["project", "create", "bench"], cwd, env)
        rows: list[tuple[str, float]] = [
            ("python -c pass", median_of([sys.executable, "-c", "pass"], cwd, env, args.runs)),
            ("phaseloom project list", median_of(CLI + ["project", "list"], cwd, env, args.runs)),
        ]
        local = dict(env, PHASELOOM_MEMORY_WORKER_IDLE_SECONDS="0")
        rows.append(("memory add, in-process model", statistics.median_low(
            timed(add_argv(100 + i), cwd, local) for i in range(max(2, args.runs // 2)))))
        rows.append(("memory search, in-process model", median_of(CLI + SEARCH, cwd, local, max(2, args.runs // 2))))
        rows += worker_rows("", cwd, env, args.runs, 0)
        if args.baseline_src is not None:
            baseline = dict(env, PYTHONPATH=str(args.baseline_src.resolve()))
            rows += worker_rows(" [baseline]", cwd, baseline, args.runs, 200)
        rows += serve_rows(cwd, env, token, args.runs)
    interpreter, cli = rows[0][1], rows[1][1]
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"{'command':50} {'wall s':>8} {'cpu s':>7} {'x python':>9} {'- project list':>15}")
    for name, seconds in rows:
        print(f"{name:50} {seconds:8.3f} {CPU_SECONDS[seconds]:7.3f} {seconds / interpreter:9.1f} "
              f"{seconds - cli:+15.3f}")


if __name__ == "__main__":
    main()
