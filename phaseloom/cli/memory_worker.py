"""The persistent worker memory commands start: embeddings, and whole ``memory add|search`` commands.

``python -m phaseloom.cli.memory_worker --home DIR`` is :mod:`phaseloom.embeddings.worker` with one
operation more, ``memory``: the command's arguments and the settings that name its database in
(see :mod:`phaseloom.cli.memory_route`), the result the in-process command would print out. The
database layer is imported on the first such request, so a worker that only embeds stays light;
each database (by URL) is then opened once and kept, with its in-memory vector index.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from phaseloom.cli.memory_route import phaseloom_identity
from phaseloom.domain.errors import PhaseloomError
from phaseloom.embeddings.worker import Operation, main as worker_main

log = logging.getLogger(__name__)


class MemoryCommands:
    """Answers ``memory`` requests with the worker's model (``embedder``)."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.identity = phaseloom_identity()
        self.databases: dict[tuple[str, str], Any] = {}
        self.opening = threading.Lock()  # one open per database, however many requests arrive at once

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("phaseloom") != self.identity:
            return {"phaseloom": self.identity,
                    "error": f"this worker runs phaseloom {self.identity}, not {request.get('phaseloom')}"}
        settings_given = dict(request.get("settings") or {})
        reply: dict[str, Any] = {"phaseloom": self.identity, "database_url": settings_given.get("database_url")}
        try:
            reply["result"] = self._run(str(request.get("command")), dict(request.get("arguments") or {}),
                                        settings_given)
        except PhaseloomError as refused:
            reply["error"] = str(refused)
        except Exception as exc:  # noqa: BLE001 - said to the command as the in-process CLI says it
            log.exception("memory command failed")
            detail = " ".join(str(exc).split()) or "(no message)"
            reply["error"] = f"{type(exc).__name__}: {detail}  (run with --debug for details)"
        return reply

    def _run(self, command: str, arguments: dict[str, Any], settings_given: dict[str, Any]) -> dict[str, Any]:
        from phaseloom.cli import memory_ops
        from phaseloom.db.unit_of_work import UnitOfWork

        settings, db = self._database(settings_given)
        embedder = self.embedder if settings.memory_semantic else None
        if command == "add":
            return memory_ops.add_memory(UnitOfWork(db), embedder, arguments)
        if command == "search":
            return memory_ops.search_memories(UnitOfWork(db), embedder, arguments)
        raise PhaseloomError(f"unknown memory command {command!r}; expected add or search")

    def _database(self, settings_given: dict[str, Any]):
        """The settings the command would have (the given values over the defaults) and its database."""
        from phaseloom.cli.context import open_database
        from phaseloom.config import Settings

        key = (str(settings_given["database_url"]), repr(sorted(settings_given.items())))
        with self.opening:
            if key not in self.databases:
                settings = Settings(**settings_given)
                self.databases[key] = settings, open_database(settings.database_url, settings.sqlite_busy_timeout_ms,
                                                              settings)
            return self.databases[key]


def memory_operations(embedder) -> dict[str, Operation]:
    return {"memory": MemoryCommands(embedder).answer}


if __name__ == "__main__":
    sys.exit(worker_main(operations=memory_operations))
