"""A real ``mcp.Client`` over stdio against ``phaseloom mcp`` running as a subprocess (SQLite)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from phaseloom.queue import QueueService
from tests.mcp.conftest import ALL_TOOLS, DENIED_IN_REQUIREMENTS, denied_events

CLI = [sys.executable, "-m", "phaseloom.cli.app"]


def stdio_params(db_url: str, token: str) -> StdioServerParameters:
    env = {**os.environ, "PHASELOOM_DATABASE_URL": db_url, "PHASELOOM_AGENT_TOKEN": token}
    return StdioServerParameters(command=CLI[0], args=[*CLI[1:], "mcp"], env=env)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_stdio_agent_session(db_url, scene, uow):
    async def session():
        async with Client(stdio_params(db_url, scene.token), cache=None) as client:
            claimed = await client.call_tool("get_my_task", {})
            tools = {t.name for t in (await client.list_tools()).tools}
            heartbeat = await client.call_tool("heartbeat", {})
            phases = await client.call_tool("list_phases", {})
            discovery = await client.call_tool("report_discovery", {"type": "bug_found",
                                                                    "description": "login crashes on empty input"})
            refused = await client.call_tool("submit_validation", {"task_id": scene.task_id, "passed": True})
            done = await client.call_tool("complete_task", {"result": "done over stdio"})
            return claimed, tools, heartbeat, phases, discovery, refused, done

    claimed, tools, heartbeat, phases, discovery, refused, done = asyncio.run(session())
    assert claimed.structured_content["task"]["id"] == scene.task_id
    assert tools == ALL_TOOLS - DENIED_IN_REQUIREMENTS
    assert [t["id"] for t in heartbeat.structured_content["result"]] == [scene.task_id]
    assert phases.structured_content["phases"][0]["id"] == "PHASE_BACKLOG"
    assert discovery.structured_content["type"] == "bug_found"
    assert discovery.structured_content["spawned_task_id"] is None
    assert refused.is_error and "submit_validation" in refused.content[0].text
    assert [e.payload["tool"] for e in denied_events(uow)] == ["submit_validation"]
    assert not done.is_error and QueueService(uow).get(scene.task_id).status == "completed"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_stdio_refuses_to_start_with_a_bad_token(db_url, tmp_path):
    env = {**os.environ, "PHASELOOM_DATABASE_URL": db_url, "PHASELOOM_AGENT_TOKEN": "plt_agent_ghost.secret"}
    proc = subprocess.run([*CLI, "mcp"], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert "invalid or revoked token" in proc.stderr
