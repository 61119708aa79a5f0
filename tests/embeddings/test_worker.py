"""The embedding worker: a real daemon process with the real model, over a real unix socket."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from phaseloom.embeddings import DIMENSIONS, MODEL_NAME, embedding_available
from phaseloom.embeddings.worker import (
    LIFE_LOCK,
    FallbackEmbedder,
    WorkerEmbedder,
    WorkerUnavailable,
    socket_path,
)

pytestmark = pytest.mark.skipif(not embedding_available(), reason="phaseloom[memory] (embedding model) not installed")


def _worker(home: Path, **kw) -> WorkerEmbedder:
    return WorkerEmbedder(home, name=MODEL_NAME, dimensions=DIMENSIONS, **kw)


def _worker_pids(home: Path) -> set[int]:
    """Live processes running a worker for ``home`` (from /proc, so a test sees every one)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            state = (entry / "stat").read_text().split(") ")[-1][:1] if (entry / "stat").exists() else ""
            if b"phaseloom.embeddings.worker" in argv and str(home.resolve()).encode() in argv \
                    and state != "Z":
                pids.add(int(entry.name))
    return pids


@pytest.fixture
def home(tmp_path):
    folder = tmp_path / ".phaseloom"
    yield folder
    worker = _worker(folder)
    worker.stop()
    worker.wait_gone()
    for pid in _worker_pids(folder):
        os.kill(pid, signal.SIGKILL)


def test_first_call_starts_a_worker_that_answers_with_unit_vectors_by_meaning(home):
    worker = _worker(home)
    assert not worker.alive()
    vectors = worker.embed(["the upload fails with a timeout", "uploading times out", "a recipe for bread"])
    assert vectors.shape == (3, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2  # meaning, not noise
    assert worker.alive() and len(_worker_pids(home)) == 1
    assert oct(socket_path(home).stat().st_mode & 0o777) == "0o600"
    # A second client (a later command) reuses it: same vectors, no new process.
    again = _worker(home).embed(["the upload fails with a timeout"])
    assert np.allclose(again[0], vectors[0], atol=1e-5) and len(_worker_pids(home)) == 1


def test_concurrent_first_calls_start_one_worker(home):
    results, errors = [], []

    def call(i):
        try:
            results.append(_worker(home).embed([f"concurrent call {i}"]))
        except Exception as exc:  # noqa: BLE001 - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and len(results) == 5
    assert len(_worker_pids(home)) == 1


def test_a_stale_socket_file_is_replaced(home):
    home.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(socket_path(home)))  # bound, then closed: a dead worker's leftover
    stale.close()
    assert socket_path(home).exists() and not _worker(home).alive()
    assert _worker(home).embed(["after a crash"]).shape == (1, DIMENSIONS)


def test_a_killed_worker_is_restarted_by_the_next_call(home):
    worker = _worker(home)
    worker.embed(["first"])
    (pid,) = _worker_pids(home)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid in _worker_pids(home) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.embed(["second"]).shape == (1, DIMENSIONS)
    (new_pid,) = _worker_pids(home)
    assert new_pid != pid


def test_an_idle_worker_exits_and_removes_its_socket(home):
    worker = _worker(home, idle_seconds=1.0)
    worker.embed(["then nothing"])
    deadline = time.monotonic() + 20
    while (worker.alive() or socket_path(home).exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not worker.alive() and not socket_path(home).exists()
    while _worker_pids(home) and time.monotonic() < deadline + 10:  # the interpreter's own teardown
        time.sleep(0.1)
    assert not _worker_pids(home)


def test_a_worker_that_cannot_start_falls_back_to_the_model_in_process(home, monkeypatch):
    class Local:
        name, dimensions = MODEL_NAME, DIMENSIONS

        def embed(self, texts):
            return np.ones((len(texts), DIMENSIONS), dtype=np.float32)

    home.mkdir(parents=True)
    # Another process holds the life lock and never serves: the worker exits at once, every time.
    import fcntl

    with open(home / LIFE_LOCK, "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        worker = _worker(home, start_timeout=2.0)
        with pytest.raises(WorkerUnavailable):
            worker.embed(["nobody serves"])
        fallback = FallbackEmbedder(_worker(home, start_timeout=2.0), Local())
        assert fallback.embed(["nobody serves"]).shape == (1, DIMENSIONS) and fallback.used_worker is False


def test_a_long_home_path_gets_a_short_socket_path(tmp_path):
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    path = socket_path(deep)
    assert len(str(path)) <= 100 and path != socket_path(tmp_path / "other")
