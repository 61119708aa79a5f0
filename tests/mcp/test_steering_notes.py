"""Guardian steering notes reach the agent on its next tool call, once."""

from __future__ import annotations

import asyncio

from phaseloom.db.models.guardian import SteeringNote
from tests.mcp.test_http import client_for


def test_a_steering_note_is_delivered_once(mcp_http, scene, uow):
    async def session():
        async with client_for(mcp_http.url, scene.token) as client:
            claimed = await client.call_tool("get_my_task", {})
            with uow:
                uow.session.add(SteeringNote(task_id=scene.task_id, agent_id=scene.agent_id,
                                             text="Write requirements.md before anything else."))
            first = await client.call_tool("get_phase_instructions", {})
            second = await client.call_tool("get_my_task", {})
            return claimed, first, second

    claimed, first, second = asyncio.run(session())
    assert claimed.structured_content["steering_notes"] == []
    assert first.structured_content["steering_notes"] == ["Write requirements.md before anything else."]
    assert second.structured_content["steering_notes"] == []
    with uow:
        note = uow.session.query(SteeringNote).one()
        assert note.delivered_at is not None
