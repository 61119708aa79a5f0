"""The memory tools over real MCP: an agent saves what it learned and finds it again."""

from __future__ import annotations

import asyncio

from phaseloom.services.memory import MemoryService
from tests.mcp.test_http import client_for


def test_agent_saves_and_finds_memories(mcp_http, scene, uow):
    async def session():
        async with client_for(mcp_http.url, scene.token) as client:
            await client.call_tool("get_my_task", {})
            saved = await client.call_tool("save_memory", {
                "content": "The login API returns 429 after five attempts; back off before retrying",
                "memory_type": "warning", "related_files": ["api/login.py"]})
            again = await client.call_tool("save_memory", {
                "content": "The login API returns 429 after five attempts; back off before retrying!",
                "memory_type": "warning"})
            found = await client.call_tool("find_memories", {"query": "too many login attempts rate limit"})
            bad = await client.call_tool("save_memory", {"content": "x", "memory_type": "gossip"})
            return saved, again, found, bad

    saved, again, found, bad = asyncio.run(session())
    memory = saved.structured_content["memory"]
    assert saved.structured_content["action"] == "created"
    assert (memory["task_id"], memory["phase_id"], memory["agent_id"]) == (
        scene.task_id, "PHASE_REQUIREMENTS", scene.agent_id)
    assert again.structured_content["action"] == "merged"
    assert again.structured_content["memory"]["times_seen"] == 2
    hits = found.structured_content["hits"]
    assert hits[0]["memory"]["id"] == memory["id"] and found.structured_content["semantic_available"] is True
    assert MemoryService(uow).get(memory["id"]).times_used == 1
    assert bad.is_error
