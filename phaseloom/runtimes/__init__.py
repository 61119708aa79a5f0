"""Runtimes run one task for one agent: ``Runtime.run(assignment) -> RunOutcome``.

* :mod:`~phaseloom.runtimes.command` runs any CLI coding agent (presets for Claude Code, Codex
  CLI, OpenCode and Aider);
* :mod:`~phaseloom.runtimes.scripted` is a deterministic built-in agent for offline runs and tests;
* :mod:`~phaseloom.runtimes.openai` drives an OpenAI-compatible chat-completions endpoint.
"""

from phaseloom.runtimes.base import Assignment, RunOutcome, Runtime, settle

__all__ = ["Assignment", "RunOutcome", "Runtime", "settle"]
