"""What ``phaseloom memory add|search`` do on the database, whichever process runs it: the command
itself, or the persistent worker it hands the command to (:mod:`phaseloom.cli.memory_worker`).

Arguments in and results out are plain JSON values, so that both routes print the same thing from
the same data; the rules are the services' (:class:`~phaseloom.services.memory.MemoryService`).
"""

from __future__ import annotations

from typing import Any

from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.embeddings import Embedder
from phaseloom.services.memory import MemoryService
from phaseloom.services.projects import ProjectService


def add_memory(uow: UnitOfWork, embedder: Embedder | None, arguments: dict[str, Any]) -> dict[str, Any]:
    """Save a memory (a near-duplicate updates the existing one): its id, the action and its type."""
    project = arguments.get("project")
    project_id = ProjectService(uow).get(project).id if project else None
    saved = MemoryService(uow, embedder=embedder).save_memory(
        arguments["content"], arguments["memory_type"], project_id=project_id, task_id=arguments.get("task"),
        tags=list(arguments.get("tags") or []), related_files=list(arguments.get("files") or []))
    return {"id": saved.memory.id, "action": saved.action, "memory_type": saved.memory.memory_type}


def search_memories(uow: UnitOfWork, embedder: Embedder | None, arguments: dict[str, Any]) -> dict[str, Any]:
    """The hits (memory fields, score, both ranks) and whether the semantic list was there to fuse."""
    project = arguments.get("project")
    project_id = ProjectService(uow).get(project).id if project else None
    mode = arguments["mode"]
    service = MemoryService(uow, embedder=embedder if mode != "keyword" else None)
    hits = service.search(arguments["query"], project_id=project_id, phase_id=arguments.get("phase"),
                          memory_type=arguments.get("memory_type"), limit=arguments["limit"], mode=mode)
    return {"hits": [{"memory": {"id": h.memory.id, "memory_type": h.memory.memory_type,
                                 "phase_id": h.memory.phase_id, "content": h.memory.content},
                      "score": h.score, "semantic_rank": h.semantic_rank, "keyword_rank": h.keyword_rank}
                     for h in hits],
            "semantic_available": service.embedder is not None or mode == "keyword"}
