"""Every tool's structured result validates against the output schema the tool itself declares.

Through the real MCP client over stdio (``phaseloom mcp`` as a subprocess), on both backends,
with JSON Schema format checking on: a client such as OpenCode's rejects a result whose
``date-time`` field has no UTC offset, which is what SQLite's naive datetimes used to give.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from mcp import Client

from phaseloom.services.auth import AuthService
from tests.mcp.test_stdio import stdio_params

# The tools this test calls successfully; submit_validation needs a review task, and its result
# has no timestamp.
CHECKED_TOOLS = {"get_my_task", "heartbeat", "get_ticket", "list_phases", "get_phase_instructions",
                 "add_ticket_comment", "report_discovery", "tick_done_definition", "report_usage", "save_memory",
                 "find_memories", "create_task", "complete_task", "fail_task", "change_ticket_status"}


def server(db_url: str, token: str):
    """``phaseloom mcp`` for ``token``; keyword-only memory search, so that no subprocess spends
    seconds loading the embedding model (the memory tools' results have the same shape)."""
    params = stdio_params(db_url, token)
    params.env["PHASELOOM_MEMORY_SEMANTIC"] = "false"
    return params


def validator_for(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_format_checker_refuses_a_timestamp_without_an_offset():
    # Without rfc3339-validator installed, jsonschema skips "date-time" silently and the schema
    # checks of this module would prove nothing.
    checker = validator_for({"type": "string", "format": "date-time"})
    assert not checker.is_valid("2026-05-01T12:00:00.123456")
    assert checker.is_valid("2026-05-01T12:00:00.123456Z")
    assert checker.is_valid("2026-05-01T12:00:00.123456+00:00")


def timestamps_in(value, key: str = "") -> list[tuple[str, str]]:
    """Every ``*_at`` string anywhere in a structured result, with its key."""
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in timestamps_in(v, k)]
    if isinstance(value, list):
        return [found for v in value for found in timestamps_in(v, key)]
    return [(key, value)] if key.endswith("_at") and isinstance(value, str) else []


async def worker_session(client: Client, ticket_id: int) -> list[tuple[str, object]]:
    """The scene's worker: its task from claim to completion, then a second task it fails."""
    calls = [("get_my_task", {}), ("heartbeat", {}), ("get_ticket", {}), ("list_phases", {}),
             ("get_phase_instructions", {}), ("add_ticket_comment", {"body": "drafting the requirements"}),
             ("report_discovery", {"type": "clarification_needed", "description": "Is SSO in scope?"}),
             ("tick_done_definition", {"definition": 0, "evidence": "requirements.md"}),
             ("report_usage", {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 300}),
             ("save_memory", {"content": "Passwords are hashed with argon2id", "memory_type": "decision"}),
             ("find_memories", {"query": "password hashing", "mode": "keyword"}),
             ("create_task", {"ticket_id": ticket_id, "phase_id": "PHASE_REQUIREMENTS",
                              "description": "Write the acceptance criteria", "priority": "LOW"}),
             ("complete_task", {"result": "wrote requirements.md", "artifacts": ["requirements.md"]}),
             ("get_my_task", {}), ("fail_task", {"reason": "the spec is missing"})]
    return [(name, await client.call_tool(name, arguments)) for name, arguments in calls]


async def lead_session(client: Client) -> list[tuple[str, object]]:
    """An agent no policy restricts: claims a task, moves its ticket on, then works the queue empty."""
    claimed = await client.call_tool("get_my_task", {})
    ticket = await client.call_tool("get_ticket", {})
    phases = (await client.call_tool("list_phases", {})).structured_content["phases"]
    onward = next(p["allowed_transitions"] for p in phases if p["id"] == ticket.structured_content["phase_id"])
    moved = await client.call_tool("change_ticket_status", {"to_phase_id": onward[0], "reason": "ready"})
    results = [("get_my_task", claimed), ("get_ticket", ticket), ("change_ticket_status", moved),
               ("complete_task", await client.call_tool("complete_task", {"result": "moved on"}))]
    for _ in range(3):  # the worker's failed task and the task it queued, until the queue is empty
        results.append(("get_my_task", claimed := await client.call_tool("get_my_task", {})))
        if claimed.is_error or claimed.structured_content["task"] is None:
            break
        results.append(("complete_task", await client.call_tool("complete_task", {"result": "done"})))
    return results


def test_every_structured_result_matches_its_declared_output_schema(db_url, scene, uow):
    _, lead_token = AuthService(uow).register_agent("lead", agent_type="reviewer")

    async def sessions():
        async with Client(server(db_url, scene.token), cache=None) as client:
            schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
            worker = await worker_session(client, scene.ticket_id)
        async with Client(server(db_url, lead_token), cache=None) as client:
            schemas |= {t.name: t.output_schema for t in (await client.list_tools()).tools}
            return schemas, worker + await lead_session(client)

    schemas, results = asyncio.run(sessions())
    assert {name for name, _ in results} == CHECKED_TOOLS
    for name, result in results:
        assert not result.is_error, (name, result.content)
        error = best_match(validator_for(schemas[name]).iter_errors(result.structured_content))
        assert error is None, (name, error.json_path, error.message)

    stamps = [stamp for _, result in results for stamp in timestamps_in(result.structured_content)]
    # The claim's lease, the comment, the memory and the recorded cost at least: not a vacuous check.
    assert {"lease_expires_at", "created_at"} <= {key for key, _ in stamps}
    assert all(datetime.fromisoformat(value).utcoffset() == timedelta(0) for _, value in stamps), stamps
    first_claim, last_claim = results[0][1].structured_content, results[-1][1].structured_content
    assert first_claim["task"]["id"] == scene.task_id
    assert last_claim["task"] is None

    # And the check has teeth: the same claim with its lease written without an offset fails.
    lease = datetime.fromisoformat(first_claim["task"]["lease_expires_at"])
    naive_task = {**first_claim["task"], "lease_expires_at": lease.replace(tzinfo=None).isoformat()}
    naive = {**first_claim, "task": naive_task}
    error = best_match(validator_for(schemas["get_my_task"]).iter_errors(naive))
    assert (error.json_path, error.validator) == ("$.task.lease_expires_at", "format")



def test_an_id_out_of_the_databases_range_is_refused_with_a_message(db_url, scene):
    """``get_ticket`` with id 2**63 answered an error with an empty message."""
    async def calls():
        async with Client(server(db_url, scene.token), cache=None) as client:
            return [await client.call_tool(name, args) for name, args in
                    [("get_ticket", {"ticket_id": 2**63}), ("get_phase_instructions", {"task_id": 0}),
                     ("create_task", {"ticket_id": 2**63, "phase_id": "PHASE_REQUIREMENTS", "description": "d"})]]

    for result in asyncio.run(calls()):
        text = " ".join(getattr(part, "text", "") for part in result.content)
        assert result.is_error and ("less than or equal to 2147483647" in text or "greater than or equal to 1" in text), text
