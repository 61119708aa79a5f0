"""A project with one ticket, two queued tasks, two agents with tokens, and a phase policy for workers.

Workers in PHASE_REQUIREMENTS may not move tickets or submit validations (deny wins over ``*``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from phaseloom.config import Settings
from phaseloom.db.models import SystemEvent
from phaseloom.schemas.mcp import McpPolicySpec
from phaseloom.services.auth import AuthService
from phaseloom.services.mcp_policies import McpPolicyService
from phaseloom.services.queue import QueueService
from phaseloom.services.tickets import TicketService

ALL_TOOLS = {"get_my_task", "get_phase_instructions", "create_task", "change_ticket_status", "report_discovery",
             "complete_task", "fail_task", "heartbeat", "submit_validation", "tick_done_definition", "get_ticket",
             "list_phases", "add_ticket_comment", "save_memory", "find_memories"}
ALL_TOOLS = ALL_TOOLS | {"report_usage"}  # costs (issue 8)
DENIED_IN_REQUIREMENTS = {"change_ticket_status", "submit_validation"}


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """uvicorn serving an ASGI app on 127.0.0.1 in a background thread."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def mcp_http(db):
    """The MCP server over streamable HTTP at ``/mcp`` on 127.0.0.1 (the FastAPI app when it exists)."""
    settings = Settings(database_url=db.url)
    try:
        from phaseloom.api.app import create_app
    except ImportError:
        from phaseloom.mcp.http import mcp_asgi_app

        app = mcp_asgi_app(db, settings)
    else:
        app = create_app(db, settings)
    with ServerThread(app) as server:
        yield server


def start_serve(db_url: str, port: int, home) -> subprocess.Popen:
    """``phaseloom serve`` as its own process; returns once it answers /api/health."""
    env = {**os.environ, "PHASELOOM_DATABASE_URL": db_url, "PHASELOOM_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "phaseloom.cli.app", "serve", "--port", str(port)], env=env,
                            cwd=str(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"serve did not start: {proc.stderr.read().decode()[-2000:]}")
