"""The one place MCP tool policy is enforced: a server middleware in front of ``tools/list`` and ``tools/call``.

``tools/list`` answers only the tools the caller's policy allows; ``tools/call`` of any other tool
is refused with a tool error naming the rule, and an ``mcp.tool_denied`` audit event is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_REQUEST, CallToolResult, TextContent

from phaseloom.db.engine import Database
from phaseloom.domain.errors import PhaseloomError
from phaseloom.mcp.identity import CURRENT_CALLER, caller_for_request
from phaseloom.services.auth import Principal
from phaseloom.services.mcp_policies import McpPolicyService
from phaseloom.db.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
GATED_METHODS = ("tools/list", "tools/call")


def tool_error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


class PolicyGate:
    """Resolves the caller, filters the tool list and refuses denied calls (``ServerMiddleware``)."""

    def __init__(self, db: Database, tool_names: Callable[[], list[str]]) -> None:
        self.db = db
        self.tool_names = tool_names

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method not in GATED_METHODS:
            return await call_next(ctx)
        try:
            principal = await anyio.to_thread.run_sync(caller_for_request, self.db, ctx.request)
        except PhaseloomError as exc:
            if ctx.method == "tools/call":
                return tool_error(str(exc))
            raise MCPError(code=INVALID_REQUEST, message=str(exc)) from None
        reset = CURRENT_CALLER.set(principal)
        try:
            if ctx.method == "tools/list":
                return await self._list(principal, await call_next(ctx))
            name = (ctx.params or {}).get("name")
            if principal.agent_id is not None and isinstance(name, str) and name in self.tool_names():
                decision = await anyio.to_thread.run_sync(self._authorize, principal.agent_id, name)
                if not decision.allowed:
                    log.info("MCP call refused: %s", decision.reason)
                    return tool_error(f"permission denied: {decision.reason}")
            return await call_next(ctx)
        finally:
            CURRENT_CALLER.reset(reset)

    async def _list(self, principal: Principal, result: HandlerResult) -> HandlerResult:
        if principal.agent_id is None or not isinstance(result, dict):
            return result
        names = [t["name"] for t in result.get("tools", [])]
        allowed = set(await anyio.to_thread.run_sync(self._visible, principal.agent_id, names))
        return {**result, "tools": [t for t in result["tools"] if t["name"] in allowed]}

    def _visible(self, agent_id: str, names: list[str]) -> list[str]:
        from phaseloom.domain.prompt_tools import alias_visible

        allowed = McpPolicyService(UnitOfWork(self.db, readonly=True)).visible_tools(agent_id, names)
        return [name for name in allowed if alias_visible(name, set(allowed))]  # an alias hides with its tools

    def _authorize(self, agent_id: str, name: str):
        return McpPolicyService(UnitOfWork(self.db)).authorize_tool(agent_id, name)
