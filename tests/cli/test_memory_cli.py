"""``phaseloom memory`` as a user runs it: real subprocesses, a real SQLite file, the real worker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from phaseloom.embeddings import embedding_available

needs_model = pytest.mark.skipif(not embedding_available(), reason="phaseloom[memory] (embedding model) not installed")


def _run(tmp_path, *args):
    env = {**os.environ, "PHASELOOM_DATABASE_URL": f"sqlite:///{tmp_path}/p.db", "COLUMNS": "200",
           "PHASELOOM_HOME": str(tmp_path / ".phaseloom")}
    proc = subprocess.run([sys.executable, "-m", "phaseloom.cli.app", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@needs_model
def test_add_and_search_go_through_one_worker_that_stop_ends(tmp_path):
    _run(tmp_path, "init")
    _run(tmp_path, "project", "create", "demo")
    assert "not running" in _run(tmp_path, "memory", "worker", "status")
    assert "created" in _run(tmp_path, "memory", "add", "Retry the S3 upload with exponential backoff",
                             "--project", "demo")
    assert "running" in _run(tmp_path, "memory", "worker", "status").replace("not running", "")
    _run(tmp_path, "memory", "add", "The login page needs a dark theme", "--project", "demo")
    # A paraphrase sharing no word with the memory: found by meaning, so the worker embedded both.
    out = _run(tmp_path, "memory", "search", "sending files to cloud storage keeps failing", "--project", "demo",
               "--mode", "semantic", "-n", "1")
    assert "S3 upload" in out
    assert "stopped" in _run(tmp_path, "memory", "worker", "stop")
    assert "not running" in _run(tmp_path, "memory", "worker", "status")
    assert not (tmp_path / ".phaseloom" / "embedder.sock").exists()
