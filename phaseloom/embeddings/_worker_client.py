"""Finding, starting and asking the persistent worker of a folder: the standard library only.

Kept apart from :mod:`phaseloom.embeddings.worker` (which imports numpy for the vectors) so that
``phaseloom memory add|search`` can hand a whole memory operation to the worker before importing
anything heavy (see :mod:`phaseloom.cli.memory_route`).

The wire format is a 4-byte big-endian length and a JSON header each way; an embedding reply's
header is followed by ``rows * dims`` little-endian float32 values.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

PROTOCOL = 1
SOCKET_NAME = "embedder.sock"
START_LOCK = "embedder.start.lock"
LIFE_LOCK = "embedder.lock"
LOG_NAME = "embedder.log"
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS
MAX_MESSAGE = 64 * 1024 * 1024
# BLAS threads spin and collapse on shared cores (see numpy_minilm._one_blas_thread); set before import.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
EMBEDDING_WORKER = "phaseloom.embeddings.worker"


class WorkerUnavailable(RuntimeError):
    """The worker could not be reached or started; the caller embeds in-process instead."""


class WorkerMismatch(WorkerUnavailable):
    """The worker serves another model or another phaseloom (an older install): it is replaced."""


def socket_path(home: Path) -> Path:
    """The worker's socket for ``home``; in the temp folder when the path is too long for a socket."""
    home = Path(home).resolve()
    path = home / SOCKET_NAME
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(home).encode()).hexdigest()[:16]
    return Path("/tmp") / f"phaseloom-embedder-{os.getuid()}-{digest}.sock"


def send_message(sock: socket.socket, header: dict, payload: bytes = b"") -> None:
    body = json.dumps(header).encode()
    sock.sendall(struct.pack(">I", len(body)) + body + payload)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise ConnectionError("the embedding worker closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_header(sock: socket.socket) -> dict:
    (size,) = struct.unpack(">I", recv_exact(sock, 4))
    if size > MAX_MESSAGE:
        raise ConnectionError(f"embedding worker message of {size} bytes is over the limit")
    return json.loads(recv_exact(sock, size))


class WorkerProcess:
    """The worker serving ``home``'s socket: probe it, stop it, start one (``entry_module`` is the
    ``python -m`` module a new one runs)."""

    def __init__(self, home: Path, *, idle_seconds: float = 600.0, start_timeout: float = 180.0,
                 request_timeout: float = 120.0, entry_module: str = EMBEDDING_WORKER) -> None:
        self.home = Path(home).resolve()
        self.idle_seconds, self.start_timeout, self.request_timeout = idle_seconds, start_timeout, request_timeout
        self.entry_module = entry_module
        self.path = socket_path(self.home)

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(2.0)
            sock.connect(str(self.path))
        except OSError:
            sock.close()
            raise
        return sock

    def alive(self) -> bool:
        try:
            self.connect().close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """Ask the worker to exit (it finishes requests in flight first)."""
        with contextlib.suppress(OSError, ConnectionError, ValueError), self.connect() as sock:
            send_message(sock, {"v": PROTOCOL, "op": "stop"})
            recv_header(sock)

    def wait_gone(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def replace(self) -> None:
        """Stop the worker that answers (another phaseloom's, or a crashed one's leftovers) and start ours."""
        self.stop()
        self.wait_gone()
        self.start()

    def start(self) -> None:
        """Start a worker unless one answers; one client at a time starts, the others then find it."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / START_LOCK, "a") as lock:
            _flock(lock, self.start_timeout)
            deadline = time.monotonic() + self.start_timeout
            while not self.alive():
                if time.monotonic() > deadline:
                    raise WorkerUnavailable(f"the embedding worker did not start within {self.start_timeout:.0f} s")
                # A worker exiting at once (code 0) found another holding the life lock, one that
                # is shutting down: try again until that one has gone.
                self._wait_ready(self._spawn(), deadline)

    def _spawn(self) -> subprocess.Popen:
        # The worker outlives this process (its own session) and writes to the log file.
        with open(self.home / LOG_NAME, "ab") as logfile:
            return subprocess.Popen(
                [sys.executable, "-m", self.entry_module, "--home", str(self.home),
                 "--idle-seconds", str(self.idle_seconds)],
                stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, start_new_session=True, close_fds=True,
                env={**os.environ, **ONE_THREAD})

    def _wait_ready(self, proc: subprocess.Popen, deadline: float) -> None:
        while time.monotonic() < deadline and not self.alive():
            code = proc.poll()
            if code == 0:
                time.sleep(0.1)
                return
            if code is not None:
                raise WorkerUnavailable(f"the embedding worker exited with code {code}; see {self.home / LOG_NAME}")
            time.sleep(0.05)


def _flock(handle, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise WorkerUnavailable("timed out waiting for another process starting the embedding worker") from None
            time.sleep(0.05)
