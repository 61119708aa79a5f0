"""``phaseloom mcp``: the MCP server over stdio, for agents that launch their tools as a subprocess."""

from __future__ import annotations

import os

import typer

from phaseloom.cli.context import state


def register(app: typer.Typer) -> None:
    @app.command("mcp")
    def serve_stdio() -> None:
        """Serve MCP over stdin/stdout as the agent whose token is in PHASELOOM_AGENT_TOKEN."""
        from phaseloom.mcp.identity import AGENT_TOKEN_ENV, authenticate
        from phaseloom.mcp.server import build_mcp_server

        if not os.environ.get(AGENT_TOKEN_ENV):
            from phaseloom.domain.errors import Unauthenticated

            raise Unauthenticated(f"no agent token: set {AGENT_TOKEN_ENV} to the token of the agent this "
                                  "MCP server acts for (phaseloom agent register prints one)")
        db = state.database()
        # Fail before the handshake: an agent with a bad token should hear why, not get empty tool lists.
        authenticate(db, os.environ.get(AGENT_TOKEN_ENV))
        build_mcp_server(db, state.settings).run("stdio")
