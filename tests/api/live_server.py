"""Real servers on 127.0.0.1 for the event tests and the benchmark: uvicorn in a thread, or ``phaseloom serve``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import uvicorn

from phaseloom.api.app import create_app
from phaseloom.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadedServer:
    """Any ASGI app served by uvicorn on 127.0.0.1 (a free port) in a background thread.

    ``url`` is the base URL plus ``path`` (``/mcp`` for the MCP tests, nothing for the others).
    """

    def __init__(self, app, *, path: str = "") -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.path = path
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.http + self.path

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class LiveServer(ThreadedServer):
    """``create_app(db, settings)`` served by uvicorn in a background thread."""

    def __init__(self, db, **settings) -> None:
        self.settings = Settings(database_url=db.url, **settings)
        super().__init__(create_app(db, self.settings))


def start_serve(db_url: str, ports: list[int], home, **env) -> list[subprocess.Popen]:
    """One ``phaseloom serve`` process per port (started together); returns once all answer /api/health."""
    environ = {**os.environ, "PHASELOOM_DATABASE_URL": db_url, "PHASELOOM_HOME": str(home), **env}
    procs = [subprocess.Popen([sys.executable, "-m", "phaseloom.cli.app", "serve", "--port", str(port)],
                              env=environ, cwd=str(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for port in ports]
    try:
        for proc, port in zip(procs, ports):
            _wait_for_health(proc, port)
    except BaseException:
        for proc in procs:
            stop(proc)
        raise
    return procs


def _wait_for_health(proc: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("serve did not answer within 30s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
