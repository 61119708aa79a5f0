"""A persistent embedding worker, so short-lived commands never import the model.

Importing sentence-transformers and loading MiniLM takes seconds; ``phaseloom memory add`` and
``memory search`` would pay that on every call. Instead the first call starts this worker: a
small daemon listening on a unix socket in the project's ``.phaseloom`` folder, which loads
the model once, embeds whatever clients send, and exits after ``idle_seconds`` without a request.

Robustness, in the order things go wrong:

- **Stale socket** (a worker that died without cleaning up): connecting is refused, so the
  client starts a new worker, which removes the dead socket file before it binds.
- **Concurrent first calls**: a client starts a worker only while holding ``embedder.start.lock``
  (``flock``), and looks again for a live worker once it holds it; a worker refuses to run
  unless it holds ``embedder.lock`` for its whole life, so two can never serve one socket.
- **Worker crash mid-request** (or a worker of another model): the client starts a fresh
  worker and asks once more; if that fails too, the caller falls back to the model in-process.

The wire format is a 4-byte big-endian length and a JSON header each way; the reply header is
followed by ``rows * dims`` little-endian float32 values.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PROTOCOL = 1
SOCKET_NAME = "embedder.sock"
START_LOCK = "embedder.start.lock"
LIFE_LOCK = "embedder.lock"
LOG_NAME = "embedder.log"
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS
MAX_MESSAGE = 64 * 1024 * 1024
# BLAS threads spin and collapse on shared cores (see numpy_minilm._one_blas_thread); set before import.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class WorkerUnavailable(RuntimeError):
    """The worker could not be reached or started; the caller embeds in-process instead."""


class WorkerMismatch(WorkerUnavailable):
    """The worker serves another model (an older install): it is replaced."""


def socket_path(home: Path) -> Path:
    """The worker's socket for ``home``; in the temp folder when the path is too long for a socket."""
    home = Path(home).resolve()
    path = home / SOCKET_NAME
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(home).encode()).hexdigest()[:16]
    return Path("/tmp") / f"phaseloom-embedder-{os.getuid()}-{digest}.sock"


# -- wire ---------------------------------------------------------------------------
def _send(sock: socket.socket, header: dict, payload: bytes = b"") -> None:
    body = json.dumps(header).encode()
    sock.sendall(struct.pack(">I", len(body)) + body + payload)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise ConnectionError("the embedding worker closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _recv_header(sock: socket.socket) -> dict:
    (size,) = struct.unpack(">I", _recv_exact(sock, 4))
    if size > MAX_MESSAGE:
        raise ConnectionError(f"embedding worker message of {size} bytes is over the limit")
    return json.loads(_recv_exact(sock, size))


# -- client -------------------------------------------------------------------------
class WorkerEmbedder:
    """An :class:`~phaseloom.embeddings.Embedder` that asks the worker for ``home``."""

    def __init__(self, home: Path, *, name: str, dimensions: int, idle_seconds: float = 600.0,
                 start_timeout: float = 180.0, request_timeout: float = 120.0) -> None:
        self.home = Path(home).resolve()
        self.name, self.dimensions = name, dimensions
        self.idle_seconds, self.start_timeout, self.request_timeout = idle_seconds, start_timeout, request_timeout
        self.path = socket_path(self.home)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        try:
            return self._ask(texts)
        except WorkerMismatch as other:
            log.info("%s; replacing it", other)
            self.stop()
            self.wait_gone()
        except (OSError, ConnectionError, ValueError) as first:
            log.info("embedding worker at %s did not answer (%s); starting one", self.path, first)
        self._start()
        return self._ask(texts)

    def _ask(self, texts: list[str]) -> np.ndarray:
        with self._connect() as sock:
            sock.settimeout(self.request_timeout)
            _send(sock, {"v": PROTOCOL, "op": "embed", "texts": list(texts)})
            header = _recv_header(sock)
            if "error" in header:
                raise WorkerUnavailable(f"embedding worker: {header['error']}")
            if header.get("model") != self.name or header.get("dims") != self.dimensions:
                raise WorkerMismatch(f"embedding worker runs {header.get('model')!r}, not {self.name!r}")
            rows = int(header["rows"])
            if rows != len(texts):
                raise ValueError(f"embedding worker answered {rows} rows for {len(texts)} texts")
            data = _recv_exact(sock, rows * self.dimensions * 4)
        return np.frombuffer(data, dtype="<f4").reshape(rows, self.dimensions).astype(np.float32)

    def _connect(self) -> socket.socket:
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
            self._connect().close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """Ask the worker to exit (it finishes requests in flight first)."""
        with contextlib.suppress(OSError, ConnectionError, ValueError), self._connect() as sock:
            _send(sock, {"v": PROTOCOL, "op": "stop"})
            _recv_header(sock)

    def wait_gone(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _start(self) -> None:
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
                [sys.executable, "-m", "phaseloom.embeddings.worker", "--home", str(self.home),
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


# -- server -------------------------------------------------------------------------
class _Worker:
    def __init__(self, home: Path, idle_seconds: float, embedder) -> None:
        self.home, self.idle_seconds, self.embedder = home, idle_seconds, embedder
        self.path = socket_path(home)
        self.last_request = time.monotonic()
        self.busy = 0
        self.lock = threading.Lock()  # guards busy
        self.encoding = threading.Lock()  # one encode at a time: BLAS already uses every core
        self.stopping = threading.Event()

    def serve(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a dead worker's socket: we hold the life lock, so it is not live
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is for this user only
        try:
            server.bind(str(self.path))
        finally:
            os.umask(old_umask)
        inode = self.path.stat().st_ino
        server.listen(64)
        server.settimeout(0.5)
        try:
            while not self.stopping.is_set() and not self._idle():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with self.lock:
                    self.busy += 1  # counted before the thread runs, so the idle check cannot race it
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
            while self.busy:
                time.sleep(0.05)
        finally:
            server.close()
            with contextlib.suppress(FileNotFoundError):
                if self.path.stat().st_ino == inode:
                    self.path.unlink()

    def _idle(self) -> bool:
        return self.idle_seconds > 0 and not self.busy and time.monotonic() - self.last_request > self.idle_seconds

    def _handle(self, conn: socket.socket) -> None:
        """One request; only embedding requests count as activity (liveness probes must not keep
        an idle worker alive)."""
        try:
            with conn:
                conn.settimeout(30.0)
                request = _recv_header(conn)
                if request.get("op") == "stop":
                    self.stopping.set()
                    _send(conn, {"ok": True})
                    return
                if request.get("v") != PROTOCOL or request.get("op") != "embed":
                    _send(conn, {"error": f"unsupported request (protocol {PROTOCOL})"})
                    return
                texts = [str(t) for t in request.get("texts") or []]
                with self.encoding:
                    vectors = np.asarray(self.embedder.embed(texts), dtype="<f4")
                self.last_request = time.monotonic()
                header = {"model": self.embedder.name, "dims": self.embedder.dimensions, "rows": len(texts)}
                _send(conn, header, vectors.tobytes())
        except ConnectionError as exc:  # clients probing whether the worker is alive connect and close
            log.debug("embedding request ended early: %s", exc)
        except (OSError, ValueError) as exc:
            log.warning("embedding request failed: %s", exc)
        finally:
            with self.lock:
                self.busy -= 1


def run_worker(home: Path, idle_seconds: float) -> int:
    """Serve embeddings for ``home`` until idle; 0 at once when another worker already serves it."""
    from phaseloom.embeddings._local_model import local_embedder

    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LIFE_LOCK, "a") as life:
        try:
            fcntl.flock(life, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        embedder = local_embedder()
        embedder.warm()
        embedder.embed(["warm up"])  # the first encode is slower; pay it before the socket exists
        log.warning("embedding worker %d serving %s (idle exit after %.0f s)", os.getpid(), socket_path(home),
                    idle_seconds)
        _Worker(home, idle_seconds, embedder).serve()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="phaseloom's embedding worker (started by the CLI)")
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--idle-seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    return run_worker(args.home, args.idle_seconds)



class FallbackEmbedder:
    """The worker's embeddings, or the model in this process when the worker cannot be had."""

    def __init__(self, worker: WorkerEmbedder, local) -> None:
        self.worker, self.local = worker, local
        self.name, self.dimensions = local.name, local.dimensions
        self.used_worker: bool | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.used_worker is not False:
            try:
                vectors = self.worker.embed(texts)
                self.used_worker = True
                return vectors
            except (OSError, ConnectionError, ValueError, WorkerUnavailable) as exc:
                log.warning("embedding worker unavailable (%s); loading the model in this process", exc)
                self.used_worker = False
        return self.local.embed(texts)


if __name__ == "__main__":
    sys.exit(main())
