"""Presets for the coding-agent CLIs phaseloom drives: argv, MCP wiring and stream parser, one module each.

A preset module exposes ``PRESET``, a :class:`Preset`. Its ``config`` writes the CLI's MCP
configuration into the run folder (never into the worktree, which is committed) from a
:class:`McpLaunch`: either a stdio command (``phaseloom mcp`` with the agent's token and the database
URL in its environment) or the URL of a running MCP endpoint. Every path is absolute, because the
agent runs in its worktree, not in the orchestrator's folder.
"""

from __future__ import annotations

from phaseloom.runtimes.presets import aider, claude_code, codex, opencode
from phaseloom.runtimes.presets.base import DATABASE_VAR, TOKEN_VAR, McpLaunch, Preset, RenderedConfig

__all__ = ["DATABASE_VAR", "PRESETS", "TOKEN_VAR", "McpLaunch", "Preset", "RenderedConfig", "preset"]

PRESETS: dict[str, Preset] = {m.PRESET.name: m.PRESET for m in (claude_code, codex, opencode, aider)}


def preset(name: str) -> Preset:
    from phaseloom.domain.errors import InvalidInput

    try:
        return PRESETS[name]
    except KeyError:
        raise InvalidInput(f"unknown agent preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
