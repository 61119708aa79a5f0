"""Running ``phaseloom`` as a user does: a real subprocess on a SQLite file in the test's folder."""

from __future__ import annotations

import os
import subprocess
import sys


def run(tmp_path, *args, check=True):
    """``phaseloom ARGS`` with its database in ``tmp_path``; raise with stderr unless it exits 0 (``check``)."""
    env = {**os.environ, "PHASELOOM_DATABASE_URL": f"sqlite:///{tmp_path}/p.db", "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "phaseloom.cli.app", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc
