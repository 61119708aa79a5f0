"""Codex CLI: ``codex exec --json``, phaseloom's MCP as ``mcp_servers.phaseloom`` config overrides."""

from __future__ import annotations

import json
from pathlib import Path

from phaseloom.runtimes.presets.base import TOKEN_VAR, McpLaunch, Preset, RenderedConfig
from phaseloom.runtimes.streams import PlainTextParser


def config(mcp: McpLaunch, run_dir: Path) -> RenderedConfig:
    # The overrides are TOML values; JSON strings and arrays are valid TOML.
    if mcp.stdio:
        lines = [f"mcp_servers.phaseloom.command={json.dumps(mcp.command[0])}",
                 f"mcp_servers.phaseloom.args={json.dumps(list(mcp.command[1:]))}",
                 f"mcp_servers.phaseloom.env_vars={json.dumps([TOKEN_VAR, *mcp.env])}"]
    else:
        lines = [f"mcp_servers.phaseloom.url={json.dumps(mcp.url)}",
                 f"mcp_servers.phaseloom.bearer_token_env_var={json.dumps(TOKEN_VAR)}"]
    return RenderedConfig(files={"codex-overrides.txt": "\n".join(lines) + "\n"}, env=dict(mcp.env))


PRESET = Preset(
    "codex",
    ("codex", "exec", "--json", "--sandbox", "workspace-write", "--skip-git-repo-check", "{prompt}"),
    config, PlainTextParser, binary="codex", tested_version="0.171.0")
