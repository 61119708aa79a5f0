"""Can an agent reach phaseloom's MCP server? One ``initialize`` + ``tools/list`` with the official SDK client.

The orchestrator asks this once before its first claim, and ``phaseloom doctor`` asks it with a fresh
token: an agent CLI whose MCP server does not start (missing interpreter, refused token, unreachable
URL) still exits 0 after doing nothing, so the failure has to be found here, in plain words, before
any task is handed out. Every failure becomes one line saying what failed and how to fix it.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio
import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from phaseloom.runtimes.presets.base import TOKEN_VAR, McpLaunch, stdio_launch

# The tools without which an MCP-capable agent can neither take its task nor report it.
REQUIRED_TOOLS = ("get_my_task", "complete_task")
_MAX_DETAIL = 300
# How `phaseloom mcp` words a refused identity (it exits before the handshake, so its stderr is all we get).
_TOKEN_TROUBLE = re.compile(r"token|deregistered|unauthenticated", re.IGNORECASE)
_TOKEN_FIX = "issue a fresh agent token (the agent must be registered and not deregistered)"


@dataclass(frozen=True)
class McpCheck:
    """The outcome: ``ok`` when the server answered and offers :data:`REQUIRED_TOOLS`."""

    ok: bool
    tool_names: tuple[str, ...] = ()
    error: str = ""
    seconds: float = 0.0


class _CheckError(Exception):
    """A failure already worded for the user."""


def mcp_launch_for(database_url: str, mcp_url: str = "", token: str = "") -> McpLaunch:
    """The URL launch when ``mcp_url`` is given, else ``phaseloom mcp`` over stdio on this interpreter."""
    return McpLaunch(url=mcp_url, token=token) if mcp_url else stdio_launch(database_url, token)


def check_mcp(launch: McpLaunch, token: str, *, timeout: float = 20) -> McpCheck:
    """Connect as the agent whose token is ``token``, list the tools, and say whether that is enough.

    Blocking: it runs its own event loop, so call it from a thread without one (the orchestrator's
    threads, the CLI). It never raises for a failure of the server or the network.
    """
    started = time.monotonic()
    try:
        names = anyio.run(_list_tools, launch, token, timeout)
    except _CheckError as failure:
        return McpCheck(False, error=str(failure), seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    missing = [name for name in REQUIRED_TOOLS if name not in names]
    if missing:
        return McpCheck(False, names, seconds=seconds,
                        error=f"the MCP server at {_where(launch)} offers no {', '.join(missing)}: it is not "
                              "phaseloom's MCP server (or an old one); point the agent at `phaseloom mcp`")
    return McpCheck(True, names, seconds=seconds)


async def _list_tools(launch: McpLaunch, token: str, timeout: float) -> tuple[str, ...]:
    try:
        with anyio.fail_after(timeout):
            if launch.stdio:
                return await _list_over_stdio(launch, token)
            return await _list_over_http(launch.url, token, timeout)
    except TimeoutError:
        raise _CheckError(f"no answer from the MCP server at {_where(launch)} within {timeout:g}s; check that "
                          "it starts and that its database is reachable") from None


async def _list_over_stdio(launch: McpLaunch, token: str) -> tuple[str, ...]:
    if not launch.command:
        raise _CheckError("no MCP server command to launch; give an MCP URL or the `phaseloom mcp` command")
    params = StdioServerParameters(command=launch.command[0], args=list(launch.command[1:]),
                                   env={**launch.env, TOKEN_VAR: token})
    # The server's stderr goes to a file: when it exits before the handshake (a refused token, a
    # database it cannot open), its own last words are the explanation.
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            async with stdio_client(params, errlog=errlog) as (read, write):
                return await _tool_names(read, write)
        except OSError as exc:
            raise _CheckError(f"cannot start the MCP server {launch.command[0]!r}: {exc.strerror or exc}; "
                              "install phaseloom for that interpreter or fix the MCP command") from None
        except Exception as exc:  # noqa: BLE001 - any failure of the session is reported, in words
            raise _CheckError(_stdio_failure(launch, errlog, _leaf(exc))) from None


def _stdio_failure(launch: McpLaunch, errlog: IO[str], exc: BaseException) -> str:
    errlog.seek(0)
    said = _last_line(errlog.read())
    program = _program(launch)
    if not said:
        return f"the MCP server `{program}` failed: {_describe(exc)}"
    fix = _TOKEN_FIX if _TOKEN_TROUBLE.search(said) else "fix what it says and try again"
    return f"the MCP server `{program}` stopped before answering: {said}; {fix}"


async def _list_over_http(url: str, token: str, timeout: float) -> tuple[str, ...]:
    refusals: list[str] = []

    async def note_refusal(response: httpx2.Response) -> None:
        # The SDK turns an HTTP error into a generic JSON-RPC error; the server's own reason is in the body.
        if response.status_code >= 400:
            await response.aread()
            refusals.append(f"HTTP {response.status_code}: {_body_message(response)}")

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(timeout),
                              event_hooks={"response": [note_refusal]})
    try:
        async with http, streamable_http_client(url, http_client=http) as (read, write):
            return await _tool_names(read, write)
    except Exception as exc:  # noqa: BLE001 - any failure of the session is reported, in words
        raise _CheckError(_http_failure(url, refusals, _leaf(exc))) from None


def _http_failure(url: str, refusals: list[str], exc: BaseException) -> str:
    if refusals:
        refusal = refusals[0]
        fix = _TOKEN_FIX if refusal.startswith(("HTTP 401", "HTTP 403")) else "check that the URL ends in /mcp"
        return f"the MCP endpoint {url} refused the connection ({refusal}); {fix}"
    if isinstance(exc, httpx2.TransportError):
        return (f"cannot connect to the MCP endpoint {url}: {_describe(exc)}; start `phaseloom serve` there "
                "or give another --mcp-url")
    return f"the MCP endpoint {url} failed: {_describe(exc)}"


async def _tool_names(read, write) -> tuple[str, ...]:
    async with ClientSession(read, write) as session:
        await session.initialize()
        listing = await session.list_tools()
        return tuple(sorted(tool.name for tool in listing.tools))


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) task-group exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MCPError):
        return exc.error.message
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _body_message(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return _last_line(response.text) or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return str(message or body)[:_MAX_DETAIL]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1].removeprefix("error:").strip()[:_MAX_DETAIL]


def _program(launch: McpLaunch) -> str:
    """The stdio command as a user would type it (the interpreter by its name, not its full path)."""
    return " ".join([Path(launch.command[0]).name, *launch.command[1:]]) if launch.command else ""


def _where(launch: McpLaunch) -> str:
    return launch.url if not launch.stdio else f"`{_program(launch)}`"
