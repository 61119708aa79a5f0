"""Build the phaseloom MCP server: the tools of ``tools.py`` behind the policy gate of ``gate.py``."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from phaseloom.config import Settings
from phaseloom.db.engine import Database
from phaseloom.mcp.gate import PolicyGate
from phaseloom.mcp.tools import PhaseloomTools, register_tools

INSTRUCTIONS = """\
You are an agent working on one task of a phaseloom ticket. Start with get_my_task, then
get_phase_instructions. Send heartbeat during long work. Report anything outside your task with
report_discovery instead of fixing it silently. Finish with complete_task (or fail_task).
You may act only on your own tasks and the tickets they belong to.
"""


def build_mcp_server(db: Database, settings: Settings) -> MCPServer:
    """The MCP server for ``db``; every tool acts as the agent whose token the client presented."""
    server = MCPServer("phaseloom", instructions=INSTRUCTIONS, log_level=settings.log_level.upper())
    names = register_tools(server, PhaseloomTools(db, settings))
    server.middleware.append(PolicyGate(db, lambda: names))
    return server
