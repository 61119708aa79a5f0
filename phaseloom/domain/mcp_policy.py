"""Which MCP tools an agent may see and call, per (agent type, phase).

A policy names the agent types and phases it covers and the tools it allows and denies, all
as shell-style wildcards (``fnmatch``: ``*``, ``?``, ``[abc]``), matched case-sensitively.
For one caller, every policy whose ``agent_type`` and ``phase`` patterns match applies:

* no policy applies — every tool is allowed (policies are opt-in);
* a tool is allowed when some applying policy allows it and **no** applying policy denies it
  (deny wins, whichever policy it comes from).

A caller with no current phase is matched against the empty string, so only ``*`` covers it.
A phase's permissions may imply tools (``domain/permissions.IMPLIED_TOOLS``: ``write_artifact`` for a
``read_only`` phase): those are allowed unless an applying policy denies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class McpPolicy:
    agent_type: str = "*"
    phase: str = "*"
    allow: tuple[str, ...] = ("*",)
    deny: tuple[str, ...] = ()
    source: str = ""  # where it came from ("workflow", "api:<id>"), for messages only

    def applies_to(self, agent_type: str, phase_id: str | None) -> bool:
        return fnmatchcase(agent_type, self.agent_type) and fnmatchcase(phase_id or "", self.phase)


@dataclass(frozen=True)
class ToolDecision:
    tool: str
    allowed: bool
    reason: str


def _first_match(name: str, patterns: tuple[str, ...]) -> str | None:
    return next((p for p in patterns if fnmatchcase(name, p)), None)


def decide(policies: list[McpPolicy], agent_type: str, phase_id: str | None, tool: str,
           implied: tuple[str, ...] = ()) -> ToolDecision:
    """Decide whether ``agent_type`` working in ``phase_id`` may call ``tool``; ``implied``: tools the
    phase's permissions give it, allowed unless denied."""
    applying = [p for p in policies if p.applies_to(agent_type, phase_id)]
    where = f"agent type {agent_type!r} in phase {phase_id or '(none)'}"
    if not applying:
        return ToolDecision(tool, True, f"no MCP policy covers {where}")
    for policy in applying:
        pattern = _first_match(tool, policy.deny)
        if pattern is not None:
            origin = f" ({policy.source})" if policy.source else ""
            return ToolDecision(tool, False, f"tool {tool!r} is denied for {where} by pattern {pattern!r}{origin}")
    if any(_first_match(tool, p.allow) is not None for p in applying):
        return ToolDecision(tool, True, "allowed")
    if tool in implied:
        return ToolDecision(tool, True, f"implied by the permissions of phase {phase_id}")
    return ToolDecision(tool, False, f"tool {tool!r} is not in the allowed tools for {where}")


def visible_tools(policies: list[McpPolicy], agent_type: str, phase_id: str | None, tools: list[str],
                  implied: tuple[str, ...] = ()) -> list[str]:
    """The subset of ``tools`` the caller may call, in the given order."""
    return [t for t in tools if decide(policies, agent_type, phase_id, t, implied).allowed]
