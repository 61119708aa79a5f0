"""Codex CLI: ``codex exec --json``, phaseloom's MCP server as ``-c mcp_servers.phaseloom.*`` overrides.

What the real CLI (0.171.0) needs, found by running it:

- ``--full-auto`` is gone (exit 2); ``--sandbox workspace-write`` lets it edit its worktree, and
  ``exec`` never asks for approval ("approval policy is never"), so every MCP tool call is refused
  ("MCP tool call requires approval, but approval policy is never") unless the server's
  ``default_tools_approval_mode = "approve"``.
- Codex starts MCP servers in the background and sends the first model request without waiting;
  ``required = true`` makes it wait (and fail at once, with the reason, when the server cannot start),
  for up to ``startup_timeout_sec`` (default 10 s: less than a cold ``phaseloom mcp`` may take on a busy
  machine, hence 60).
- For models that support it (all of Codex's own catalog), MCP tools are not in the request: they
  are found through a client-side ``tool_search``, then called as ``mcp__phaseloom__<tool>``.
- ``env_vars`` forwards variables from Codex's own environment to the stdio server, so neither the
  token nor the database URL (which may hold a password) is on the command line or on disk; a URL
  server gets the token from ``bearer_token_env_var``.
- The overrides are TOML values; JSON strings and arrays are valid TOML.
- A phase's permissions are Codex's own sandbox: ``--sandbox read-only | workspace-write |
  danger-full-access``. phaseloom's MCP server is Codex's child, outside the sandbox, so a
  ``read_only`` phase still reaches it (and writes its outputs through ``write_artifact``).
- A custom provider goes in the user's ``$CODEX_HOME/config.toml`` (``model_providers.<id>`` with
  ``wire_api = "responses"``, ``base_url``, ``env_key``); the JSON stream names no model, so the usage is
  recorded under the ``model`` configured there.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from phaseloom.domain.permissions import Permissions
from phaseloom.runtimes.presets.base import TOKEN_VAR, McpLaunch, PermissionControls, Preset, RenderedConfig
from phaseloom.runtimes.presets.codex_stream import CodexStreamParser

SERVER_NAME = "phaseloom"
STARTUP_TIMEOUT_SECONDS = 60
TOOL_TIMEOUT_SECONDS = 300


def config(mcp: McpLaunch, run_dir: Path) -> RenderedConfig:
    key = f"mcp_servers.{SERVER_NAME}"
    if mcp.stdio:
        server = {"command": mcp.command[0], "args": list(mcp.command[1:]), "env_vars": [TOKEN_VAR, *mcp.env]}
    else:
        server = {"url": mcp.url, "bearer_token_env_var": TOKEN_VAR}
    server.update({"required": True, "startup_timeout_sec": STARTUP_TIMEOUT_SECONDS,
                   "tool_timeout_sec": TOOL_TIMEOUT_SECONDS, "default_tools_approval_mode": "approve"})
    overrides = [f"{key}.{name}={json.dumps(value)}" for name, value in server.items()]
    # The CI pins the version phaseloom was tested with; no update check mid-run.
    overrides.append("check_for_update_on_startup=false")
    return RenderedConfig(env=dict(mcp.env), args=tuple(arg for value in overrides for arg in ("-c", value)))


def _user_config(env: Mapping[str, str]) -> dict | None:
    """``$CODEX_HOME/config.toml`` (``~/.codex``), or None when there is none to read."""
    home = Path(env.get("CODEX_HOME") or Path(env.get("HOME") or Path.home()) / ".codex")
    try:
        return tomllib.loads((home / "config.toml").read_text())
    except (OSError, ValueError):
        return None


def configured_model(env: Mapping[str, str] | None = None) -> str | None:
    """The model in ``$CODEX_HOME/config.toml`` (its profile's, when one is set), or None."""
    settings = _user_config(os.environ if env is None else env)
    if settings is None:
        return None
    profile = settings.get("profiles", {}).get(settings.get("profile") or "", {})
    model = profile.get("model") or settings.get("model")
    return model if isinstance(model, str) and model else None


def resume_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """``codex exec resume SESSION PROMPT``: the resume subcommand takes no ``--sandbox``, so the sandbox
    goes in as the ``sandbox_mode`` override, the same setting."""
    parts = list(argv)
    at = parts.index("exec") + 1
    resumed = [*parts[:at], "resume"]
    rest = parts[at:]
    while rest:
        part = rest.pop(0)
        if part == "--sandbox":
            resumed += ["-c", f"sandbox_mode={json.dumps(rest.pop(0))}"]
        elif part == "--":
            resumed += ["{session_id}", "--", *rest]
            break
        else:
            resumed.append(part)
    return tuple(resumed)


def parser() -> CodexStreamParser:
    return CodexStreamParser(model=configured_model())


SANDBOX = {Permissions.READ_ONLY: "read-only", Permissions.WORKSPACE_WRITE: "workspace-write",
           Permissions.FULL: "danger-full-access"}


def permission_controls(level: Permissions) -> PermissionControls:
    return PermissionControls(args=("--sandbox", SANDBOX[level]))


def env_names(source: Mapping[str, str]) -> tuple[str, ...]:
    """OpenAI's variables, Codex's own, and those its configuration reads: a provider's ``env_key`` and
    ``env_http_headers``, the ``env_vars`` and ``env_http_headers`` of the user's MCP servers."""
    named: list[str] = []
    settings = _user_config(source) or {}
    for section in ("model_providers", "mcp_servers"):
        for entry in (settings.get(section) or {}).values():
            if not isinstance(entry, dict):
                continue
            named += [entry["env_key"]] if isinstance(entry.get("env_key"), str) else []
            named += [v for v in entry.get("env_vars") or () if isinstance(v, str)]
            named += [v for v in (entry.get("env_http_headers") or {}).values() if isinstance(v, str)]
    return ("OPENAI_*", "CODEX_*", "RUST_LOG", *named)


PRESET = Preset(
    "codex",
    ("codex", "exec", "--json", "{permission_args}", "--skip-git-repo-check", "{config_args}",
     "--", "{prompt}"),
    config, parser, binary="codex", tested_version="0.171.0", resume_argv=resume_argv,
    note="OPENAI_API_KEY or `codex login`; a custom provider in $CODEX_HOME/config.toml with "
         "wire_api = \"responses\"",
    permission_controls=permission_controls, env_names=env_names)
