"""``phaseloom memory add|search`` without a ``serve``: the whole command handed to the persistent worker.

The worker (:mod:`phaseloom.cli.memory_worker`) already has the model loaded, and keeps the database
open and SQLAlchemy, the ORM and the settings imported; the command sends it the operation, its
arguments and the settings that choose the database, and prints the reply. This module is imported
before anything heavy (the standard library only), so it reads those settings itself with the
precedence the in-process command has: ``--database-url`` (or ``PHASELOOM_DATABASE_URL`` as typed),
then the environment in any case, then ``phaseloom.toml``, then the default.

Which process answers, and why it cannot be the wrong database:

- Each request carries the database URL (a relative SQLite path made absolute here: the worker may have
  been started in another folder) and the worker opens that one; its reply names the URL it used and is
  refused when it differs.
- Each request carries this phaseloom's version and package folder; a worker of another install or
  checkout refuses it, as does an older worker that answers embeddings only. Either is stopped and a
  worker of this phaseloom started in its place, and the request sent again.
- When no worker can be had (it does not start, or keeps failing) the command runs in this process,
  with the same result, and says so in a warning: both open the same database, so nothing can
  silently disagree. ``--debug``, ``PHASELOOM_MEMORY_WORKER_IDLE_SECONDS=0``, an in-memory SQLite URL and a
  SQLite file that does not exist also run in-process (the last one to refuse with its usual message).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phaseloom
from phaseloom.cli.memory_server import setting_value, toml_settings
from phaseloom.domain.errors import PhaseloomError
from phaseloom.embeddings._worker_client import (
    PROTOCOL,
    WorkerProcess,
    WorkerUnavailable,
    recv_header,
    send_message,
)
from phaseloom.settings_defaults import DEFAULT_DATABASE_URL, DEFAULT_SQLITE_BUSY_TIMEOUT_MS

log = logging.getLogger(__name__)

MEMORY_WORKER = "phaseloom.cli.memory_worker"
DEFAULT_HOME = ".phaseloom"
DEFAULT_IDLE_SECONDS = 600.0
ATTEMPTS = 3  # the first, after starting a worker, after replacing a stale one


def phaseloom_identity() -> str:
    """This install: its version and where its package is (two checkouts of one version differ)."""
    return f"{phaseloom.__version__} {Path(phaseloom.__file__).resolve().parent}"


@dataclass(frozen=True)
class WorkerSettings:
    """The settings a memory command needs to find the worker and to name its database."""

    home: Path
    idle_seconds: float
    # For the worker's Settings: the database URL, made absolute, and the others as written (the
    # worker validates them as the settings would).
    settings: dict[str, Any]


def absolute_sqlite_url(url: str, folder: Path) -> str | None:
    """``url`` with a relative SQLite file path made absolute against ``folder``; None for an in-memory
    or ``file:`` SQLite URL (a worker would keep it across commands, which one command never does).
    Other backends' URLs are returned as they are."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.split("+")[0] != "sqlite":
        return url
    path, question, query = rest.removeprefix("/").partition("?")
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return f"{scheme}:///{(folder / Path(path).expanduser()).resolve()}{question}{query}"


def worker_settings(database_url_option: str | None, environ: dict[str, str] | None = None,
                    folder: Path | None = None) -> WorkerSettings | None:
    """The worker route's settings, or None where the command runs in-process."""
    environ = dict(os.environ) if environ is None else environ
    folder = Path.cwd() if folder is None else folder
    toml = toml_settings(folder)
    idle = setting_value("memory_worker_idle_seconds", environ, toml)
    try:
        idle_seconds = DEFAULT_IDLE_SECONDS if idle is None else float(idle)
    except ValueError:
        return None  # in-process, where the settings name the bad value
    url = database_url_option or setting_value("database_url", environ, toml)
    url = absolute_sqlite_url(DEFAULT_DATABASE_URL if url is None else str(url), folder)
    if idle_seconds <= 0 or url is None or _missing_sqlite_file(url):
        return None
    # Every one given, defaults included: the worker's own environment (its first command's) must not count.
    settings: dict[str, Any] = {"database_url": url}
    for name, default in (("sqlite_busy_timeout_ms", DEFAULT_SQLITE_BUSY_TIMEOUT_MS), ("memory_semantic", True)):
        value = setting_value(name, environ, toml)
        settings[name] = default if value is None else value
    home = setting_value("home", environ, toml)
    return WorkerSettings(home=(folder / Path(str(home) if home is not None else DEFAULT_HOME)).resolve(),
                          idle_seconds=idle_seconds, settings=settings)


def _missing_sqlite_file(url: str) -> bool:
    scheme, _, rest = url.partition("://")
    return scheme.split("+")[0] == "sqlite" and not Path(rest.removeprefix("/").partition("?")[0]).exists()


class StaleWorker(WorkerUnavailable):
    """The worker that answered is another phaseloom's, or used another database: it is replaced."""


def ask_worker(command: str, arguments: dict[str, Any], route: WorkerSettings) -> dict[str, Any] | None:
    """The worker's result of ``command``; None when no worker could answer (run it in-process). A
    refusal of the command (unknown project, bad type) is raised as the in-process command raises it."""
    process = WorkerProcess(route.home, idle_seconds=route.idle_seconds, entry_module=MEMORY_WORKER)
    request = {"v": PROTOCOL, "op": "memory", "phaseloom": phaseloom_identity(), "command": command,
               "arguments": arguments, "settings": route.settings}
    for attempt in range(ATTEMPTS):
        try:
            return _answer(_exchange(process, request), request)
        except (OSError, ConnectionError, ValueError, WorkerUnavailable) as failed:
            if attempt == ATTEMPTS - 1:
                log.warning("memory worker unavailable (%s); running the command in this process", failed)
                return None
            try:
                if isinstance(failed, StaleWorker):
                    process.replace()
                else:
                    process.start()
            except (OSError, WorkerUnavailable) as unavailable:
                log.warning("memory worker unavailable (%s); running the command in this process", unavailable)
                return None
    return None


def _exchange(process: WorkerProcess, request: dict[str, Any]) -> dict[str, Any]:
    with process.connect() as sock:
        sock.settimeout(process.request_timeout)
        send_message(sock, request)
        return recv_header(sock)


def _answer(reply: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    if reply.get("phaseloom") != request["phaseloom"]:
        raise StaleWorker(f"the worker on the socket is not this phaseloom ({reply.get('error') or reply.get('phaseloom')})")
    if reply.get("database_url") != request["settings"]["database_url"]:
        raise StaleWorker(f"the worker answered from {reply.get('database_url')!r}, "
                          f"not {request['settings']['database_url']!r}")
    if "error" in reply:
        raise PhaseloomError(str(reply["error"]))
    return reply["result"]
