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

Besides ``embed``, a worker answers the operations its entry point registers (``operations`` of
:func:`run_worker`): ``python -m phaseloom.cli.memory_worker`` adds whole memory commands. Finding and
starting a worker, and the wire format, are in :mod:`phaseloom.embeddings._worker_client`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from phaseloom.embeddings._worker_client import (
    LIFE_LOCK,
    PROTOCOL,
    WorkerMismatch,
    WorkerProcess,
    WorkerUnavailable,
    recv_exact,
    recv_header,
    send_message,
    socket_path,
)

log = logging.getLogger(__name__)

# An operation a worker answers besides ``embed``: the request header in, the reply header out.
Operation = Callable[[dict], dict]


# -- client -------------------------------------------------------------------------
class WorkerEmbedder(WorkerProcess):
    """An :class:`~phaseloom.embeddings.Embedder` that asks the worker for ``home``."""

    def __init__(self, home: Path, *, name: str, dimensions: int, **process) -> None:
        super().__init__(home, **process)
        self.name, self.dimensions = name, dimensions

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
        self.start()
        return self._ask(texts)

    def _ask(self, texts: list[str]) -> np.ndarray:
        with self.connect() as sock:
            sock.settimeout(self.request_timeout)
            send_message(sock, {"v": PROTOCOL, "op": "embed", "texts": list(texts)})
            header = recv_header(sock)
            if "error" in header:
                raise WorkerUnavailable(f"embedding worker: {header['error']}")
            if header.get("model") != self.name or header.get("dims") != self.dimensions:
                raise WorkerMismatch(f"embedding worker runs {header.get('model')!r}, not {self.name!r}")
            rows = int(header["rows"])
            if rows != len(texts):
                raise ValueError(f"embedding worker answered {rows} rows for {len(texts)} texts")
            data = recv_exact(sock, rows * self.dimensions * 4)
        return np.frombuffer(data, dtype="<f4").reshape(rows, self.dimensions).astype(np.float32)


# -- server -------------------------------------------------------------------------
class _Worker:
    def __init__(self, home: Path, idle_seconds: float, embedder,
                 operations: Callable[[object], dict[str, Operation]] | None = None) -> None:
        self.home, self.idle_seconds, self.embedder = home, idle_seconds, embedder
        self.operations = operations(_OneAtATime(self)) if operations is not None else {}
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
                request = recv_header(conn)
                if request.get("op") == "stop":
                    self.stopping.set()
                    send_message(conn, {"ok": True})
                    return
                operation = self.operations.get(request.get("op"))
                if request.get("v") == PROTOCOL and operation is not None:
                    conn.settimeout(None)  # the operation may take a while; its reply is awaited
                    reply = operation(request)
                    self.last_request = time.monotonic()
                    send_message(conn, reply)
                    return
                if request.get("v") != PROTOCOL or request.get("op") != "embed":
                    send_message(conn, {"error": f"unsupported request (protocol {PROTOCOL})"})
                    return
                texts = [str(t) for t in request.get("texts") or []]
                with self.encoding:
                    vectors = np.asarray(self.embedder.embed(texts), dtype="<f4")
                self.last_request = time.monotonic()
                header = {"model": self.embedder.name, "dims": self.embedder.dimensions, "rows": len(texts)}
                send_message(conn, header, vectors.tobytes())
        except ConnectionError as exc:  # clients probing whether the worker is alive connect and close
            log.debug("embedding request ended early: %s", exc)
        except (OSError, ValueError) as exc:
            log.warning("embedding request failed: %s", exc)
        finally:
            with self.lock:
                self.busy -= 1


class _OneAtATime:
    """The worker's model for its operations, one encode at a time like the ``embed`` requests."""

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        self.name, self.dimensions = worker.embedder.name, worker.embedder.dimensions

    def embed(self, texts: list[str]) -> np.ndarray:
        with self.worker.encoding:
            return self.worker.embedder.embed(texts)


def run_worker(home: Path, idle_seconds: float,
               operations: Callable[[object], dict[str, Operation]] | None = None) -> int:
    """Serve embeddings for ``home`` until idle; 0 at once when another worker already serves it.
    ``operations``: given the worker's model, the further operations it answers by name."""
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
        _Worker(home, idle_seconds, embedder, operations).serve()
    return 0


def main(argv: list[str] | None = None,
         operations: Callable[[object], dict[str, Operation]] | None = None) -> int:
    parser = argparse.ArgumentParser(description="phaseloom's embedding worker (started by the CLI)")
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--idle-seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    return run_worker(args.home, args.idle_seconds, operations)


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
