"""A real ``mcp.Client`` over streamable HTTP against the app served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from phaseloom.queue import QueueService
from phaseloom.services.ticket_comments import TicketCommentService
from tests.api.live_server import free_port, start_serve, stop
from tests.mcp.conftest import ALL_TOOLS, DENIED_IN_REQUIREMENTS, denied_events


def client_for(url: str, token: str) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(url, http_client=http), cache=None)


def text_of(result) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def test_agent_claims_reports_and_completes_its_task(mcp_http, scene, uow):
    async def session():
        async with client_for(mcp_http.url, scene.token) as client:
            before = {t.name for t in (await client.list_tools()).tools}
            claimed = await client.call_tool("get_my_task", {})
            after = {t.name for t in (await client.list_tools()).tools}
            instructions = await client.call_tool("get_phase_instructions", {})
            comment = await client.call_tool("add_ticket_comment", {"body": "requirements drafted"})
            discovery = await client.call_tool("report_discovery", {
                "type": "missing_requirement", "description": "Password reset is not specified",
                "spawn_phase_id": "PHASE_DESIGN", "spawn_description": "Design the password reset flow"})
            tick = await client.call_tool("tick_done_definition", {"definition": 0, "evidence": "requirements.md"})
            done = await client.call_tool("complete_task", {"result": "wrote requirements.md",
                                                            "artifacts": ["requirements.md"]})
            return before, claimed, after, instructions, comment, discovery, tick, done

    before, claimed, after, instructions, comment, discovery, tick, done = asyncio.run(session())
    assert before == ALL_TOOLS  # no task yet: the requirements policy does not cover the agent
    assert not claimed.is_error and claimed.structured_content["claimed_now"] is True
    assert claimed.structured_content["task"]["id"] == scene.task_id
    assert after == ALL_TOOLS - DENIED_IN_REQUIREMENTS  # filtered for the phase of the task it now holds
    assert instructions.structured_content["phase_id"] == "PHASE_REQUIREMENTS"
    assert "YOU ARE A REQUIREMENTS ANALYST" in instructions.structured_content["text"]
    assert "requirements.md" in instructions.structured_content["text"]
    assert comment.structured_content["author"] == f"agent:{scene.agent_id}"
    assert [c.body for c in TicketCommentService(uow).list(scene.ticket_id)] == ["requirements drafted"]
    spawned = QueueService(uow).get(discovery.structured_content["spawned_task_id"])
    assert (spawned.phase_id, spawned.ticket_id, spawned.task_type) == ("PHASE_DESIGN", scene.ticket_id, "discovery")
    assert tick.structured_content["ticked"] == ["Requirements extracted and documented in requirements.md"]
    assert len(tick.structured_content["remaining"]) == 2
    assert done.structured_content["status"] == "completed"
    task = QueueService(uow).get(scene.task_id)
    assert (task.status, task.result["artifacts"]) == ("completed", ["requirements.md"])


def test_denied_tool_is_refused_with_an_audit_event(mcp_http, scene, uow):
    async def session():
        async with client_for(mcp_http.url, scene.token) as client:
            await client.call_tool("get_my_task", {})
            return await client.call_tool("change_ticket_status", {"to_phase_id": "PHASE_DESIGN"})

    refused = asyncio.run(session())
    assert refused.is_error
    assert "permission denied" in text_of(refused) and "'change_ticket_status'" in text_of(refused)
    [event] = denied_events(uow)
    assert event.entity_id == scene.agent_id and event.payload["tool"] == "change_ticket_status"
    assert event.phase_id == "PHASE_REQUIREMENTS"


def test_bad_arguments_unknown_ids_and_other_agents_work_are_refused(mcp_http, scene, uow):
    async def session():
        async with client_for(mcp_http.url, scene.token) as client:
            await client.call_tool("get_my_task", {})
            async with client_for(mcp_http.url, scene.other_token) as other:
                await other.call_tool("get_my_task", {})
            return [await client.call_tool(name, args) for name, args in (
                ("get_ticket", {"ticket_id": "not-a-number"}),
                ("complete_task", {"result": "x", "task_id": 999999}),
                ("complete_task", {"result": "x", "task_id": scene.other_task_id}),
                ("get_ticket", {"ticket_id": scene.other_ticket_id}),
                ("create_task", {"ticket_id": scene.ticket_id, "phase_id": "PHASE_NOPE", "description": "x"}),
                ("create_task", {"ticket_id": scene.ticket_id, "phase_id": "PHASE_DESIGN", "description": "x",
                                 "priority": "URGENT"}),
            )]

    wrong_type, unknown, not_mine, other_ticket, bad_phase, bad_priority = asyncio.run(session())
    assert all(r.is_error for r in (wrong_type, unknown, not_mine, other_ticket, bad_phase, bad_priority))
    assert "ticket_id" in text_of(wrong_type)
    assert "task 999999 not found" in text_of(unknown)
    assert f"task {scene.other_task_id} is not assigned to agent {scene.agent_id}" in text_of(not_mine)
    assert f"no active task on ticket {scene.other_ticket_id}" in text_of(other_ticket)
    assert "phase PHASE_NOPE" in text_of(bad_phase) and "not found" in text_of(bad_phase)
    assert "priority" in text_of(bad_priority)
    assert QueueService(uow).get(scene.other_task_id).status == "running"  # untouched
    assert denied_events(uow) == []  # refusals of bad input are not policy denials


def test_http_without_a_valid_agent_token_is_401(mcp_http, scene):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    missing = httpx.post(mcp_http.url, json=body, headers=headers)
    wrong = httpx.post(mcp_http.url, json=body, headers={**headers, "Authorization": "Bearer plt_agent_x.nope"})
    assert missing.status_code == 401 and "missing bearer token" in missing.json()["error"]["message"]
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthenticated"


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_phaseloom_serve_subprocess_serves_mcp(db_url, scene, uow, tmp_path):
    port = free_port()
    proc = start_serve(db_url, [port], tmp_path)[0]
    try:
        async def session():
            async with client_for(f"http://127.0.0.1:{port}/mcp", scene.token) as client:
                claimed = await client.call_tool("get_my_task", {})
                tools = {t.name for t in (await client.list_tools()).tools}
                done = await client.call_tool("complete_task", {"result": "served by phaseloom serve"})
                return claimed, tools, done

        claimed, tools, done = asyncio.run(session())
    finally:
        stop(proc)
    assert claimed.structured_content["task"]["id"] == scene.task_id
    assert tools == ALL_TOOLS - DENIED_IN_REQUIREMENTS
    assert not done.is_error and QueueService(uow).get(scene.task_id).status == "completed"
