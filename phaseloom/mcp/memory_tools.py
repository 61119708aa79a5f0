"""MCP tools for task memory: save what you learned, find what others learned."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from phaseloom.mcp.identity import current_agent_id
from phaseloom.schemas.api.common import MAX_ID
from phaseloom.schemas.memory import MemoryOut, MemorySaved, MemorySearchResult, MemoryTypeName, hit_out
from phaseloom.services.memory import MemoryService


class MemoryTools:
    """Mixed into :class:`phaseloom.mcp.tools.PhaseloomTools` (which provides ``_uow``, ``_work`` and ``settings``)."""

    def save_memory(self, content: Annotated[str, Field(min_length=1, description="what you learned")],
                    memory_type: MemoryTypeName,
                    goal: str = "", result: str = "",
                    related_files: Annotated[list[str], Field(description="files this is about")] = [],  # noqa: B006
                    tags: list[str] = [],  # noqa: B006
                    task_id: Annotated[int | None, Field(ge=1, le=MAX_ID,
                                                         description="one of your task ids; omit for the current")] = None,
                    ) -> MemorySaved:
        """Save something you learned (an error fix, a decision, a warning…) for other agents to find."""
        agent_id = current_agent_id()
        task = self._work().current_task(agent_id, task_id)
        saved = MemoryService(self._uow(), self.settings).save_memory(
            content, memory_type, task_id=task.id, agent_id=agent_id, goal=goal, result=result,
            related_files=related_files, tags=tags)
        return MemorySaved(memory=MemoryOut.model_validate(saved.memory), action=saved.action)

    def find_memories(self, query: Annotated[str, Field(min_length=1, description="what you want to know")],
                      phase_id: str | None = None, memory_type: MemoryTypeName | None = None,
                      limit: Annotated[int, Field(ge=1, le=50)] = 10,
                      mode: Literal["hybrid", "semantic", "keyword"] = "hybrid") -> MemorySearchResult:
        """Search what agents of your project learned, by meaning and by words."""
        agent_id = current_agent_id()
        task = self._work().current_task(agent_id, None)
        service = MemoryService(self._uow(), self.settings)
        hits = service.search(query, project_id=task.project_id, phase_id=phase_id, memory_type=memory_type,
                              limit=limit, mode=mode)
        service.record_use([h.memory.id for h in hits])
        return MemorySearchResult(query=query, mode=mode, semantic_available=service.embedder is not None,
                                  hits=[hit_out(h) for h in hits])
