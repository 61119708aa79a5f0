"""Claude Code: ``claude -p --output-format stream-json``, phaseloom's MCP from ``--mcp-config``.

What the real CLI (2.1.197) needs, found by running it:

- ``stream-json`` in print mode requires ``--verbose``.
- ``--mcp-config`` and ``--allowedTools`` take several values, so the prompt goes last, after ``--``
  (which also keeps instructions starting with ``-`` from being read as options).
- In print mode MCP servers connect in the background and the first model request goes out without
  their tools. ``"alwaysLoad": true`` makes Claude Code wait for the server (and never defer its tools
  behind tool search), but only ``MCP_CONNECT_TIMEOUT_MS`` (default 5 s) long — less than a cold
  ``phaseloom mcp`` may take on a busy machine — so the preset raises it.
- ``bypassPermissions`` / ``--dangerously-skip-permissions`` exit 1 as root (unless ``IS_SANDBOX=1``), so
  the preset grants what the agent needs instead: ``acceptEdits`` (file edits inside its cwd) and
  ``--allowedTools mcp__phaseloom`` (every phaseloom tool). Print mode never prompts: anything else is denied.
- A phase's permissions: ``read_only`` keeps the ``default`` mode and removes the editing tools
  (``--disallowedTools Edit Write NotebookEdit Bash``: the model is not even offered them; ``plan`` mode
  would refuse phaseloom's own MCP tools as well); ``workspace_write`` is ``acceptEdits``; ``full`` adds
  ``Bash`` and the web tools to the allowed ones (``bypassPermissions`` is refused as root).
- ``${VAR}`` in the MCP configuration is expanded from Claude Code's environment, so neither the token
  nor the database URL (which may hold a password) is written to disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from phaseloom.domain.permissions import Permissions
from phaseloom.runtimes.presets.base import TOKEN_VAR, McpLaunch, PermissionControls, Preset, RenderedConfig
from phaseloom.runtimes.presets.claude_stream import ClaudeStreamParser

SERVER_NAME = "phaseloom"
MCP_WAIT_MS = "60000"


def config(mcp: McpLaunch, run_dir: Path) -> RenderedConfig:
    if mcp.stdio:
        passed = {name: f"${{{name}}}" for name in (*mcp.env, TOKEN_VAR)}
        server = {"type": "stdio", "command": mcp.command[0], "args": list(mcp.command[1:]), "env": passed}
    else:
        server = {"type": "http", "url": mcp.url, "headers": {"Authorization": f"Bearer ${{{TOKEN_VAR}}}"}}
    server["alwaysLoad"] = True
    env = {**mcp.env,
           # How long print mode waits for phaseloom's MCP server before its first model request.
           "MCP_CONNECT_TIMEOUT_MS": os.environ.get("MCP_CONNECT_TIMEOUT_MS", MCP_WAIT_MS),
           "MCP_TIMEOUT": os.environ.get("MCP_TIMEOUT", MCP_WAIT_MS),
           # The CI pins the version phaseloom was tested with; an update mid-run would change it under the agents.
           "DISABLE_AUTOUPDATER": "1"}
    mcp_json = json.dumps({"mcpServers": {SERVER_NAME: server}}, indent=2) + "\n"
    return RenderedConfig(files={"mcp.json": mcp_json}, env=env)


def resume_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """``--resume SESSION`` before the prompt: print mode continues that session with the prompt as its next
    message. The session is found by the folder it ran in, so the resumed run uses the same worktree."""
    cut = list(argv).index("--")
    return (*argv[:cut], "--resume", "{session_id}", *argv[cut:])


EDITING_TOOLS = ("Edit", "Write", "NotebookEdit", "Bash")
PERMISSION_ARGS: dict[Permissions, tuple[str, ...]] = {
    Permissions.READ_ONLY: ("--permission-mode", "default", "--allowedTools", f"mcp__{SERVER_NAME}",
                            "--disallowedTools", *EDITING_TOOLS),
    Permissions.WORKSPACE_WRITE: ("--permission-mode", "acceptEdits", "--allowedTools", f"mcp__{SERVER_NAME}"),
    Permissions.FULL: ("--permission-mode", "acceptEdits", "--allowedTools", f"mcp__{SERVER_NAME}", "Bash",
                       "WebFetch", "WebSearch"),
}


def permission_controls(level: Permissions) -> PermissionControls:
    return PermissionControls(args=PERMISSION_ARGS[level])


# Its provider and its own settings; Bedrock's and Vertex's credentials only when it is told to use them.
ENV_NAMES = ("ANTHROPIC_*", "CLAUDE_*", "DISABLE_*", "MCP_*", "MAX_THINKING_TOKENS", "MAX_MCP_OUTPUT_TOKENS",
             "BASH_*", "USE_BUILTIN_RIPGREP", "CLOUD_ML_REGION", "VERTEX_REGION_*", "IS_SANDBOX")


def env_names(source: Mapping[str, str]) -> tuple[str, ...]:
    cloud = (("AWS_*",) if source.get("CLAUDE_CODE_USE_BEDROCK") else ()) + (
        ("GOOGLE_*", "GCLOUD_*", "CLOUDSDK_*") if source.get("CLAUDE_CODE_USE_VERTEX") else ())
    return ENV_NAMES + cloud


PRESET = Preset(
    "claude-code",
    ("claude", "-p", "--output-format", "stream-json", "--verbose",
     "--mcp-config", "{run_dir}/mcp.json", "--strict-mcp-config",
     "{permission_args}", "--", "{prompt}"),
    config, ClaudeStreamParser, binary="claude", tested_version="2.1.197", resume_argv=resume_argv,
    note="Anthropic API key or `claude login`; ANTHROPIC_BASE_URL for a gateway",
    permission_controls=permission_controls, env_names=env_names)
