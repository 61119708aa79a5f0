"""Which agent tools a phase's text asks for, so a workflow can be checked against the MCP server.

Imported prompts (Hephaestus, OmoiOS) tell agents to call tools by name: ``create_ticket(...)``,
"use save_memory to document", ``mcp__hephaestus__submit_result({...})``. A name counts when it is
one of the peers' tool names (:data:`PEER_TOOLS`) written as a word, or any name after an
``mcp__<server>__`` prefix. Plain prose is never guessed at.
"""

from __future__ import annotations

import re

from phaseloom.domain.phases import Workflow

# The tools Hephaestus's and OmoiOS's phase prompts tell agents to call.
PEER_TOOLS = frozenset({
    "create_task", "change_ticket_status", "update_task_status", "save_memory", "create_ticket", "get_tasks",
    "get_ticket", "search_tickets", "resolve_ticket", "submit_result", "get_memories",
})
# A peer tool that does what phaseloom tools do: calling it needs the policy to allow those too.
PEER_ALIASES: dict[str, tuple[str, ...]] = {
    "update_task_status": ("complete_task", "fail_task", "heartbeat"),
    "resolve_ticket": ("change_ticket_status",),
    "get_memories": ("find_memories",),
}


def alias_visible(tool: str, allowed: set[str]) -> bool:
    """An alias is listed only when the policy allows at least one tool it stands for."""
    targets = PEER_ALIASES.get(tool)
    return targets is None or any(t in allowed for t in targets)


_PEER_NAME = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(sorted(PEER_TOOLS)) + r")(?![A-Za-z0-9_])")
_MCP_NAME = re.compile(r"\bmcp__[A-Za-z0-9\-]+__([A-Za-z_][A-Za-z0-9_]*)")


def tools_named(text: str) -> set[str]:
    """The tool names ``text`` asks an agent to call."""
    return set(_PEER_NAME.findall(text)) | set(_MCP_NAME.findall(text))


def missing_tools(workflow: Workflow, offered: set[str]) -> list[tuple[str, str]]:
    """``(phase id, tool)`` for each tool a phase's text names that is not in ``offered``, in phase order."""
    missing = []
    for phase in workflow.ordered_phases:
        text = "\n".join([phase.phase_prompt, phase.description, *phase.done_definitions, *phase.next_steps_guide])
        missing += [(phase.id, name) for name in sorted(tools_named(text) - offered)]
    return missing
