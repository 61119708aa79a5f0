"""A project with one ticket, two queued tasks, two agents with tokens, and a phase policy for workers.

Workers in PHASE_REQUIREMENTS may not move tickets or submit validations (deny wins over ``*``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from phaseloom.api.app import create_app
from phaseloom.config import Settings
from phaseloom.db.models import SystemEvent
from phaseloom.schemas.mcp import McpPolicySpec
from phaseloom.services.auth import AuthService
from phaseloom.services.mcp_policies import McpPolicyService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from tests.api.live_server import ThreadedServer

ALL_TOOLS = {"get_my_task", "get_phase_instructions", "create_task", "change_ticket_status", "report_discovery",
             "complete_task", "fail_task", "heartbeat", "submit_validation", "tick_done_definition", "get_ticket",
             "list_phases", "add_ticket_comment", "save_memory", "find_memories"}
ALL_TOOLS = ALL_TOOLS | {"report_usage"}  # costs (issue 8)
ALL_TOOLS = ALL_TOOLS | {"ask_human"}  # Needs input (issue 21)
ALL_TOOLS = ALL_TOOLS | {"update_task_status", "create_ticket", "get_tasks", "search_tickets", "resolve_ticket",
                         "submit_result", "get_memories"}  # the peers' tool names (issue 16)
ALL_TOOLS = ALL_TOOLS | {"write_artifact"}  # a phase's declared outputs (issue 21)
DENIED_IN_REQUIREMENTS = {"change_ticket_status", "submit_validation"}
# submit_result matches submit_*; resolve_ticket stands for change_ticket_status (issue 16).
DENIED_IN_REQUIREMENTS = DENIED_IN_REQUIREMENTS | {"submit_result", "resolve_ticket"}


@dataclass
class Scene:
    ticket_id: int
    other_ticket_id: int
    task_id: int
    other_task_id: int
    agent_id: str
    token: str
    other_agent_id: str
    other_token: str


@pytest.fixture
def scene(uow, project) -> Scene:
    tickets = TicketService(uow)
    ticket = tickets.create_ticket(project.id, "Add login", description="Users sign in with a password")
    other_ticket = tickets.create_ticket(project.id, "Unrelated")
    tickets.transition(ticket.id, "PHASE_REQUIREMENTS", reason="triaged")
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "Write requirements", priority="HIGH")
    other_task = queue.create_task(other_ticket.id, "PHASE_REQUIREMENTS", "Other work", priority="LOW")
    auth = AuthService(uow)
    agent, token = auth.register_agent("analyst", agent_type="worker")
    other, other_token = auth.register_agent("someone-else", agent_type="worker")
    McpPolicyService(uow).add(McpPolicySpec(agent_type="worker", phase="PHASE_REQUIREMENTS", allow=["*"],
                                            deny=["change_ticket_status", "submit_*"]))
    return Scene(ticket.id, other_ticket.id, task.id, other_task.id, agent.id, token, other.id, other_token)


def denied_events(uow) -> list[SystemEvent]:
    with uow:
        return list(uow.session.scalars(select(SystemEvent).where(SystemEvent.event_type == "mcp.tool_denied")))


@pytest.fixture
def mcp_http(db):
    """The MCP server over streamable HTTP at ``/mcp`` of the app, on 127.0.0.1."""
    with ThreadedServer(create_app(db, Settings(database_url=db.url)), path="/mcp") as server:
        yield server
