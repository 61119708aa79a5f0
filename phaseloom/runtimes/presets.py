"""Presets for common coding-agent CLIs: the argv, and how each is pointed at phaseloom's MCP server.

Each preset writes its MCP configuration into the run folder (never into the worktree, which
is committed) and refers to the agent token through the ``PHASELOOM_AGENT_TOKEN`` variable
rather than writing the token to disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_VAR = "PHASELOOM_AGENT_TOKEN"


@dataclass(frozen=True)
class RenderedConfig:
    """Files a preset writes (name -> text) and the environment variables it sets."""

    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Preset:
    name: str
    argv: tuple[str, ...]
    config: Callable[[str, Path], RenderedConfig]
    note: str = ""


def _claude(mcp_url: str, run_dir: Path) -> RenderedConfig:
    # Claude Code expands ${VAR} in MCP configuration files.
    server = {"type": "http", "url": mcp_url, "headers": {"Authorization": f"Bearer ${{{TOKEN_VAR}}}"}}
    return RenderedConfig(files={"mcp.json": json.dumps({"mcpServers": {"phaseloom": server}}, indent=2) + "\n"})


def _opencode(mcp_url: str, run_dir: Path) -> RenderedConfig:
    # OpenCode reads an extra config file named by OPENCODE_CONFIG and expands {env:VAR}.
    config = {"$schema": "https://opencode.ai/config.json",
              "mcp": {"phaseloom": {"type": "remote", "url": mcp_url, "enabled": True,
                                    "headers": {"Authorization": f"Bearer {{env:{TOKEN_VAR}}}"}}}}
    return RenderedConfig(files={"opencode.json": json.dumps(config, indent=2) + "\n"},
                          env={"OPENCODE_CONFIG": str(run_dir / "opencode.json")})


def _no_config(mcp_url: str, run_dir: Path) -> RenderedConfig:
    return RenderedConfig()


PRESETS: dict[str, Preset] = {
    "claude-code": Preset(
        "claude-code",
        ("claude", "-p", "{prompt}", "--mcp-config", "{run_dir}/mcp.json", "--strict-mcp-config",
         "--allowedTools", "mcp__phaseloom", "--permission-mode", "acceptEdits", "--output-format", "text"),
        _claude),
    "codex": Preset(
        "codex",
        # Codex CLI takes config overrides as -c key=value (TOML values).
        ("codex", "exec", "--full-auto", "--skip-git-repo-check",
         "-c", 'mcp_servers.phaseloom.url="{mcp_url}"',
         "-c", f'mcp_servers.phaseloom.bearer_token_env_var="{TOKEN_VAR}"',
         "{prompt}"),
        _no_config),
    "opencode": Preset("opencode", ("opencode", "run", "{prompt}"), _opencode),
    "aider": Preset(
        "aider",
        ("aider", "--yes-always", "--no-auto-commits", "--no-check-update", "--no-show-model-warnings",
         "--message-file", "{prompt_file}"),
        _no_config,
        note="Aider has no MCP client: it edits files only, and its exit code decides completion. "
             "phaseloom commits its changes with the task's trailers."),
}


def preset(name: str) -> Preset:
    from phaseloom.domain.errors import InvalidInput

    try:
        return PRESETS[name]
    except KeyError:
        raise InvalidInput(f"unknown agent preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
