"""The tools Hephaestus's prompts name, over real MCP: the peers' argument names, and no alias past a deny."""

from __future__ import annotations

import asyncio

from phaseloom.loaders.sources import load_workflow_source
from phaseloom.mcp.tools import offered_tool_names
from phaseloom.schemas.mcp import McpPolicySpec
from phaseloom.services.auth import AuthService
from phaseloom.services.mcp_policies import McpPolicyService
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.queue import ResultService
from phaseloom.services.ticket_comments import TicketCommentService
from phaseloom.services.tickets import TicketService
from phaseloom.services.workflows import WorkflowService
from tests.loaders.peer_support import PEER_FORMATS
from tests.mcp.conftest import denied_events
from tests.mcp.test_http import client_for, text_of

PEER_TOOLS = {"create_task", "change_ticket_status", "update_task_status", "save_memory", "create_ticket",
              "get_tasks", "get_ticket", "search_tickets", "resolve_ticket", "submit_result", "get_memories"}


def test_every_tool_the_peers_prompts_name_is_offered():
    assert PEER_TOOLS <= offered_tool_names()


def test_aliases_obey_the_phase_policy_and_the_peers_argument_names_work(mcp_http, scene, uow):
    async def session():
        async with client_for(mcp_http.url, scene.token) as client:
            await client.call_tool("get_my_task", {})
            listed = {t.name for t in (await client.list_tools()).tools}
            resolve = await client.call_tool("resolve_ticket", {"ticket_id": str(scene.ticket_id),
                                                                "agent_id": "agent-mcp"})
            made = await client.call_tool("create_ticket", {"title": "Login throttling", "priority": "high",
                                                            "tags": ["auth"], "agent_id": "agent-mcp",
                                                            "workflow_id": "wf-1"})
            found = await client.call_tool("search_tickets", {"query": "login password"})
            tasks = await client.call_tool("get_tasks", {"phase_id": "PHASE_REQUIREMENTS"})
            await client.call_tool("save_memory", {"content": "Passwords are hashed with argon2 in auth/hash.py",
                                                   "memory_type": "codebase_knowledge", "agent_id": "agent-mcp"})
            memories = await client.call_tool("get_memories", {"query": "argon2 password hashing"})
            beat = await client.call_tool("update_task_status", {"status": "in_progress",
                                                                 "task_id": str(scene.task_id)})
            McpPolicyService(uow).add(McpPolicySpec(agent_type="worker", phase="PHASE_REQUIREMENTS",
                                                    allow=["*"], deny=["complete_task"]))
            done = await client.call_tool("update_task_status", {"status": "done", "summary": "written"})
            return listed, resolve, made, found, tasks, memories, beat, done

    listed, resolve, made, found, tasks, memories, beat, done = asyncio.run(session())
    # change_ticket_status and submit_* are denied in this phase: their aliases are not listed either.
    assert {"create_ticket", "get_tasks", "search_tickets", "get_memories", "update_task_status"} <= listed
    assert "resolve_ticket" not in listed and "submit_result" not in listed
    assert resolve.is_error and "acts as change_ticket_status" in text_of(resolve)
    assert TicketService(uow).get(scene.ticket_id).phase_id == "PHASE_REQUIREMENTS"
    assert any(e.payload["tool"] == "change_ticket_status" for e in denied_events(uow))
    ticket = TicketService(uow).get(made.structured_content["id"])
    assert (ticket.title, ticket.priority) == ("Login throttling", "HIGH") and "tags: auth" in ticket.description
    assert found.structured_content["result"][0]["id"] == scene.ticket_id
    assert {t["id"] for t in tasks.structured_content["result"]} == {scene.task_id, scene.other_task_id}
    assert "argon2" in memories.structured_content["hits"][0]["memory"]["content"]
    assert not beat.is_error and beat.structured_content["id"] == scene.task_id
    assert done.is_error and "acts as complete_task" in text_of(done)
    assert QueueService(uow).get(scene.task_id).status != "completed"


def test_resolve_ticket_and_submit_result_on_a_hephaestus_workflow(mcp_http, uow, tmp_path):
    WorkflowService(uow).save_document(load_workflow_source(PEER_FORMATS / "crash_triage_sdk"))
    ProjectService(uow).create_project("crashes", "crash_triage_sdk")
    ticket = TicketService(uow).create_ticket("crashes", "Parser crash")
    task = QueueService(uow).create_task(ticket.id, "PHASE_COLLECT_EVIDENCE", "collect")
    _, token = AuthService(uow).register_agent("hephaestus-agent", agent_type="worker")
    report = tmp_path / "explanation.md"
    report.write_text("# Root cause\nparse() reads past the end.\n")

    async def session():
        async with client_for(mcp_http.url, token) as client:
            await client.call_tool("get_my_task", {})
            by_number = await client.call_tool("get_tasks", {"phase_id": 1, "status": "in_progress"})
            bad_status = await client.call_tool("get_tasks", {"status": "sleeping"})
            # Hephaestus's create_task: phase by number, string ids, lower-case priority, done_definition.
            spawned = await client.call_tool("create_task", {
                "description": "Phase 2: explain the crash - TICKET: x", "phase_id": 2, "priority": "high",
                "ticket_id": str(ticket.id), "done_definition": "root cause named", "agent_id": "agent-mcp",
                "workflow_id": "wf", "cwd": "."})
            moved = await client.call_tool("change_ticket_status", {"ticket_id": ticket.id, "new_status": "explain_crash",
                                                                    "comment": "collected", "agent_id": "a"})
            nowhere = await client.call_tool("change_ticket_status", {"new_status": "building"})
            submitted = await client.call_tool("submit_result", {
                "markdown_file_path": str(report), "explanation": "parse() overruns", "evidence": ["test fails"],
                "extra_files": ["./solution.patch"], "agent_id": "[YOUR ACTUAL AGENT ID]"})
            resolved = await client.call_tool("resolve_ticket", {"ticket_id": ticket.id,
                                                                 "resolution_comment": "fixed in parse()"})
            return by_number, bad_status, spawned, moved, nowhere, submitted, resolved

    by_number, bad_status, spawned, moved, nowhere, submitted, resolved = asyncio.run(session())
    assert bad_status.is_error and "expected one of pending" in text_of(bad_status)
    new_task = QueueService(uow).get(spawned.structured_content["id"])
    assert (new_task.phase_id, new_task.priority) == ("PHASE_EXPLAIN_CRASH", "HIGH")
    assert new_task.description.endswith("Done when: root cause named")
    assert moved.structured_content["phase_id"] == "PHASE_EXPLAIN_CRASH"
    assert nowhere.is_error and "new_status 'building' is no phase" in text_of(nowhere)
    assert [t["id"] for t in by_number.structured_content["result"]] == [task.id]
    result = ResultService(uow).list()[0]
    assert submitted.structured_content["result_id"] == result.id and "parse() reads" in result.content
    assert "extra file: ./solution.patch" in result.evidence
    assert resolved.structured_content["phase_id"] == "PHASE_DONE"
    assert [c.body for c in TicketCommentService(uow).list(ticket.id)] == ["fixed in parse()"]
