"""The MCP server agents talk to: thin tools over the services, one policy gate in front of them."""

from phaseloom.mcp.server import build_mcp_server

__all__ = ["build_mcp_server"]
