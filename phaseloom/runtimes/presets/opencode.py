"""OpenCode: ``opencode run --format json``, phaseloom's MCP from the file named by ``OPENCODE_CONFIG``.

OpenCode merges that file over the user's own configuration (``~/.config/opencode/opencode.json``,
where their provider and model are), so the preset adds only phaseloom's MCP server and the
permissions a run without a person needs. ``--dir`` is needed although the agent starts in its
worktree: OpenCode takes its project folder from ``$PWD`` (the orchestrator's, inherited) before
the real working directory, and would edit that folder instead. ``--title`` names the session up
front: without it OpenCode spends a model request on a title. ``--format json`` prints one JSON event a line
(see :mod:`phaseloom.runtimes.presets.opencode_stream`).

A phase's permissions go in ``OPENCODE_PERMISSION`` (inline JSON OpenCode lays over the configuration's
``permission``): ``read_only`` denies ``edit`` and ``bash``; ``full`` also allows paths outside the worktree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from phaseloom.domain.permissions import Permissions
from phaseloom.runtimes.presets.base import (PROVIDER_VARIABLES, TOKEN_VAR, McpLaunch, PermissionControls, Preset,
                                             RenderedConfig)
from phaseloom.runtimes.presets.opencode_stream import OpenCodeStreamParser

CONFIG_FILE = "opencode.json"

# Nobody is there to answer "ask": edits, shell commands and phaseloom's tools run; what OpenCode
# asks by default besides (paths outside the worktree, a tool looping on the same input) stays
# refused, which is what an unattended run should do.
PERMISSIONS = {"edit": "allow", "bash": "allow", "webfetch": "allow", "phaseloom_*": "allow",
               "external_directory": "deny", "doom_loop": "deny"}


PERMISSION_OVERRIDES: dict[Permissions, dict[str, str]] = {
    Permissions.READ_ONLY: {"edit": "deny", "bash": "deny"},
    Permissions.WORKSPACE_WRITE: {},
    Permissions.FULL: {"external_directory": "allow"},
}


def permission_controls(level: Permissions) -> PermissionControls:
    permission = {**PERMISSIONS, **PERMISSION_OVERRIDES[level]}
    return PermissionControls(env={"OPENCODE_PERMISSION": json.dumps(permission)})


def mcp_server(mcp: McpLaunch) -> dict:
    # OpenCode expands {env:VAR} anywhere in its configuration, so the token stays in the environment.
    if mcp.stdio:
        return {"type": "local", "command": list(mcp.command), "enabled": True,
                "environment": {**mcp.env, TOKEN_VAR: f"{{env:{TOKEN_VAR}}}"}}
    return {"type": "remote", "url": mcp.url, "enabled": True,
            "headers": {"Authorization": f"Bearer {{env:{TOKEN_VAR}}}"}}


def config(mcp: McpLaunch, run_dir: Path) -> RenderedConfig:
    document = {"$schema": "https://opencode.ai/config.json", "mcp": {"phaseloom": mcp_server(mcp)},
                "permission": PERMISSIONS, "share": "disabled", "autoupdate": False,
                # OpenCode's own undo history (a shadow git copy of the worktree under ~/.local/share):
                # phaseloom's commits are the history, so a run need not spend time and disk on it.
                "snapshot": False}
    return RenderedConfig(files={CONFIG_FILE: json.dumps(document, indent=2) + "\n"},
                          env={"OPENCODE_CONFIG": str(run_dir / CONFIG_FILE)})


def resume_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """``--session SESSION`` continues that session with the prompt as its next message (its title stays)."""
    parts = list(argv)
    if "--title" in parts:
        at = parts.index("--title")
        del parts[at:at + 2]
    return (*parts[:2], "--session", "{session_id}", *parts[2:])


_ENV_REFERENCE = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


def env_names(source: Mapping[str, str]) -> tuple[str, ...]:
    """Its own variables, the providers' keys it reads by name, and every ``{env:VAR}`` of the user's
    configuration (``$XDG_CONFIG_HOME/opencode``, ``~/.config/opencode``, ``OPENCODE_CONFIG``)."""
    config_home = Path(source.get("XDG_CONFIG_HOME") or Path(source.get("HOME") or Path.home()) / ".config")
    files = [config_home / "opencode" / name for name in ("opencode.json", "opencode.jsonc", "config.json")]
    files += [Path(source["OPENCODE_CONFIG"])] if source.get("OPENCODE_CONFIG") else []
    named = [source.get("OPENCODE_CONFIG_CONTENT") or ""]
    for path in files:
        try:
            named.append(path.read_text())
        except (OSError, UnicodeDecodeError):
            continue
    return ("OPENCODE_*", *PROVIDER_VARIABLES, *(m for text in named for m in _ENV_REFERENCE.findall(text)))


PRESET = Preset(
    "opencode",
    ("opencode", "run", "--format", "json", "--dir", "{workdir}", "--title", "phaseloom task {task_id}", "{prompt}"),
    config, OpenCodeStreamParser, binary="opencode", tested_version="1.18.33", resume_argv=resume_argv,
    note="OpenCode takes its provider and model from the user's own configuration "
         "(~/.config/opencode/opencode.json, or OPENCODE_CONFIG_CONTENT); phaseloom adds its MCP "
         "server through OPENCODE_CONFIG.",
    permission_controls=permission_controls, env_names=env_names)
