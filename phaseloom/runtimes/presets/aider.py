"""Aider: no MCP client, so its exit code and a changed worktree decide; its own output is the summary."""

from __future__ import annotations

from phaseloom.runtimes.presets.base import Preset
from phaseloom.runtimes.streams import PlainTextParser

PRESET = Preset(
    "aider",
    ("aider", "--yes-always", "--no-auto-commits", "--no-check-update", "--no-show-model-warnings",
     "--no-analytics", "--no-pretty", "--no-stream", "--message-file", "{prompt_file}"),
    parser=PlainTextParser, reports_via_mcp=False, binary="aider", tested_version="0.86.2",
    note="Aider has no MCP client: it edits files only; its exit code and a changed worktree decide "
         "completion, and phaseloom commits its changes with the task's trailers.")
