"""Aider: no MCP client, so its exit code and a changed worktree decide; its reply's words are the summary.

The flags make one unattended pass: ``--message-file`` sends the instructions once and exits;
``--yes-always`` lets it create the files its reply names; phaseloom commits, so no commits of its
own. Nothing of Aider's may land in the worktree, which phaseloom commits whole: no ``.aider*``
line added to ``.gitignore`` (``--no-gitignore``), the chat and input histories in the run folder,
and no repo map (``--map-tokens 0``), whose tags cache Aider always keeps in the repository root
(``.aider.tags.cache.v4``) with no option to move it. ``--no-pretty --no-stream`` print the reply
whole, with the provider's own token counts (a streamed reply's are Aider's estimates).
The model and its key come from the user's environment (``AIDER_MODEL``, ``OPENAI_API_KEY``…).
A ``read_only`` phase runs it with ``--dry-run`` (it edits nothing; without MCP it cannot write its
outputs either, so such a phase reads and answers only); the other levels are its normal run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from phaseloom.runtimes.presets.aider_output import AiderOutputParser
from phaseloom.domain.permissions import Permissions
from phaseloom.runtimes.presets.base import PROVIDER_VARIABLES, McpLaunch, PermissionControls, Preset, RenderedConfig

# litellm fetches its price list from the internet on every start unless told to use its own copy;
# an orchestrator starts Aider once per task, so the local copy is the default (the user may override).
LOCAL_COST_MAP_VAR = "LITELLM_LOCAL_MODEL_COST_MAP"


def config(mcp: McpLaunch, run_dir: Path) -> RenderedConfig:
    return RenderedConfig(env={} if LOCAL_COST_MAP_VAR in os.environ else {LOCAL_COST_MAP_VAR: "True"})


def permission_controls(level: Permissions) -> PermissionControls:
    return PermissionControls(args=("--dry-run",) if level is Permissions.READ_ONLY else ())


def env_names(source: Mapping[str, str]) -> tuple[str, ...]:
    """Its own settings (``AIDER_*``) and the providers' keys and base URLs litellm reads."""
    return ("AIDER_*", "LITELLM_*", *PROVIDER_VARIABLES)


PRESET = Preset(
    "aider",
    ("aider", "--message-file", "{prompt_file}", "--yes-always", "--no-auto-commits", "--no-dirty-commits",
     "--no-gitignore", "--map-tokens", "0", "--input-history-file", "{run_dir}/aider.input.history",
     "--chat-history-file", "{run_dir}/aider.chat.history.md", "--no-check-update", "--no-show-release-notes",
     "--no-analytics", "--no-show-model-warnings", "--no-pretty", "--no-stream", "--no-fancy-input",
     "--no-detect-urls", "--no-suggest-shell-commands", "{permission_args}"),
    config, AiderOutputParser, reports_via_mcp=False, binary="aider", tested_version="0.86.2",
    note="Aider has no MCP client: it edits files only; its exit code and a changed worktree decide "
         "completion, and phaseloom commits its changes with the task's trailers.",
    permission_controls=permission_controls, env_names=env_names)
