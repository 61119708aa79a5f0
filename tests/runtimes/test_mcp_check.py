"""``check_mcp`` with the official SDK client against real servers: ``phaseloom mcp`` over stdio on a real
SQLite file, phaseloom's streamable-HTTP endpoint served by uvicorn, a stranger's MCP server, and nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from phaseloom.api.app import create_app
from phaseloom.config import Settings
from phaseloom.runtimes.mcp_check import REQUIRED_TOOLS, check_mcp, mcp_launch_for
from phaseloom.runtimes.presets import McpLaunch
from phaseloom.services.agents import AgentService
from phaseloom.services.auth import AuthService
from tests.api.live_server import ThreadedServer, free_port

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# A real MCP server (the SDK's own) that is not phaseloom's: it offers one unrelated tool.
STRANGER = """
from mcp.server.mcpserver import MCPServer
server = MCPServer("stranger")

@server.tool()
def echo(text: str) -> str:
    return text

server.run("stdio")
"""


@pytest.fixture
def agent_token(uow) -> tuple[str, str]:
    agent, token = AuthService(uow).register_agent("checker")
    return agent.id, token


def test_stdio_with_a_valid_token_lists_phaseloom_tools(db_url, agent_token):
    result = check_mcp(mcp_launch_for(db_url), agent_token[1])
    assert result.ok, result.error
    assert set(REQUIRED_TOOLS) <= set(result.tool_names) and "report_discovery" in result.tool_names
    assert result.error == "" and result.seconds > 0


def test_stdio_with_a_deregistered_agents_token_says_so(db_url, uow, agent_token):
    agent_id, token = agent_token
    AgentService(uow).deregister(agent_id)
    result = check_mcp(mcp_launch_for(db_url), token)
    assert not result.ok and result.tool_names == ()
    # The server's own words, then the fix, on one line.
    assert f"agent {agent_id} is deregistered" in result.error
    assert "issue a fresh agent token" in result.error and "\n" not in result.error


def test_a_missing_server_command_is_named(agent_token):
    launch = McpLaunch(command=("/nonexistent/bin/python3", "-m", "phaseloom.cli.app", "mcp"))
    result = check_mcp(launch, agent_token[1])
    assert not result.ok
    assert result.error.startswith("cannot start the MCP server '/nonexistent/bin/python3': No such file")


def test_a_server_without_phaseloom_tools_is_not_enough(tmp_path, agent_token):
    script = tmp_path / "stranger.py"
    script.write_text(STRANGER)
    result = check_mcp(McpLaunch(command=(sys.executable, str(script))), agent_token[1])
    assert not result.ok and result.tool_names == ("echo",)
    assert "offers no get_my_task, complete_task" in result.error


def test_a_server_that_never_answers_times_out(agent_token):
    silent = McpLaunch(command=(sys.executable, "-c", "import time; time.sleep(60)"))
    result = check_mcp(silent, agent_token[1], timeout=1)
    assert not result.ok and "within 1s" in result.error


def test_http_endpoint_with_good_and_bad_tokens(db, agent_token):
    with ThreadedServer(create_app(db, Settings(database_url=db.url)), path="/mcp") as server:
        good = check_mcp(mcp_launch_for(db.url, server.url), agent_token[1])
        bad = check_mcp(mcp_launch_for(db.url, server.url), "plt_agent_ghost.secret")
    assert good.ok and set(REQUIRED_TOOLS) <= set(good.tool_names)
    assert not bad.ok
    assert f"the MCP endpoint {server.url} refused the connection (HTTP 401: invalid or revoked token)" in bad.error
    assert "issue a fresh agent token" in bad.error


def test_an_unreachable_url_is_a_connection_error(agent_token):
    url = f"http://127.0.0.1:{free_port()}/mcp"
    result = check_mcp(McpLaunch(url=url), agent_token[1], timeout=10)
    assert not result.ok
    assert result.error.startswith(f"cannot connect to the MCP endpoint {url}: ConnectError")
    assert "phaseloom serve" in result.error


def test_launch_makes_a_relative_sqlite_path_absolute(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    stdio = mcp_launch_for("sqlite:///.phaseloom/phaseloom.db")
    assert stdio.command == (sys.executable, "-m", "phaseloom.cli.app", "mcp") and stdio.url == ""
    assert stdio.env == {"PHASELOOM_DATABASE_URL": f"sqlite:///{Path.cwd() / '.phaseloom' / 'phaseloom.db'}"}
    assert mcp_launch_for(db_url).env["PHASELOOM_DATABASE_URL"] == db_url  # already absolute
    pg = "postgresql+psycopg://u:secret@db.example:5432/work"
    assert mcp_launch_for(pg).env["PHASELOOM_DATABASE_URL"] == pg
    assert mcp_launch_for(pg, "http://127.0.0.1:8765/mcp") == McpLaunch(url="http://127.0.0.1:8765/mcp")
    # An orchestrator run from a source tree gives its MCP server the same tree (the same migrations).
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "src"))
    assert mcp_launch_for(pg).env == {"PHASELOOM_DATABASE_URL": pg, "PYTHONPATH": str(tmp_path / "src")}
