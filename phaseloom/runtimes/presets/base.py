"""The shapes every preset module fills in (kept apart so preset modules never import the registry)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from phaseloom.domain.permissions import Permissions
from phaseloom.runtimes.streams import PlainTextParser, StreamParser

TOKEN_VAR = "PHASELOOM_AGENT_TOKEN"
DATABASE_VAR = "PHASELOOM_DATABASE_URL"


@dataclass(frozen=True)
class McpLaunch:
    """How an agent reaches phaseloom's MCP server: ``url`` (streamable HTTP) or, when empty, ``command``.

    ``env`` is what the stdio server needs besides the token (the database URL, absolute); the token
    itself is in the agent's environment as ``PHASELOOM_AGENT_TOKEN`` and presets refer to it by name
    where the CLI allows, so it is never written to disk.
    """

    url: str = ""
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    token: str = ""

    @property
    def stdio(self) -> bool:
        return not self.url


def stdio_launch(database_url: str, token: str = "", settings: Mapping[str, str] | None = None) -> McpLaunch:
    """phaseloom's own MCP server as a subprocess of the agent, on the same database (made absolute:
    the agent, and so its MCP server, runs in a worktree, not in the orchestrator's folder), and the
    same phaseloom: the orchestrator's PYTHONPATH when it has one (another copy's migrations would not
    know this database's revision)."""
    import os
    import sys

    from phaseloom.db.engine import absolute_url

    # The orchestrator's settings (``config.server_environment``), then the database it works on.
    env = {**(settings or {}), DATABASE_VAR: absolute_url(database_url)}
    # An orchestrator run from a source checkout (PYTHONPATH) must give its agents' MCP server the same
    # phaseloom: the CLIs start MCP servers with a reduced environment, which would import another one.
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return McpLaunch(command=(sys.executable, "-m", "phaseloom.cli.app", "mcp"), env=env, token=token)


@dataclass(frozen=True)
class RenderedConfig:
    """Files a preset writes into the run folder (name -> text) and the environment variables it sets."""

    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    # Spliced into the argv where the template has the element "{config_args}" (e.g. Codex's -c overrides).
    args: tuple[str, ...] = ()


def _no_config(mcp: McpLaunch, run_dir: Path) -> RenderedConfig:
    return RenderedConfig()


@dataclass(frozen=True)
class PermissionControls:
    """A phase's permissions in the CLI's own terms: arguments spliced where the argv template has the
    element ``"{permission_args}"``, and environment variables."""

    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def _no_controls(level: Permissions) -> PermissionControls:
    return PermissionControls()


# The API keys and base URLs of the providers a multi-provider CLI (OpenCode, Aider) reads by name.
PROVIDER_VARIABLES = (
    "OPENAI_*", "ANTHROPIC_*", "AZURE_*", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENERATIVE_AI_API_KEY",
    "OPENROUTER_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "XAI_API_KEY",
    "TOGETHER_API_KEY", "TOGETHERAI_API_KEY", "FIREWORKS_API_KEY", "CEREBRAS_API_KEY", "COHERE_API_KEY",
    "OLLAMA_*", "LM_STUDIO_*",
)


def _no_env_names(source: Mapping[str, str]) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class Preset:
    name: str
    argv: tuple[str, ...]                       # template: {prompt}, {prompt_file}, {run_dir}, {workdir}…
    config: Callable[[McpLaunch, Path], RenderedConfig] = _no_config
    parser: Callable[[], StreamParser] = PlainTextParser
    # True: the agent reports through phaseloom's MCP (complete_task / fail_task); exiting without a
    # report is a failure. False: no MCP client; the exit code and a changed worktree decide.
    reports_via_mcp: bool = True
    binary: str = ""                            # the program on PATH (argv[0] when empty)
    tested_version: str = ""                    # the version phaseloom's CI drives
    version_argv: tuple[str, ...] = ("--version",)
    note: str = ""
    # The argv that resumes the CLI's own session ({session_id}) with {prompt} as its next message, made
    # from the preset's argv; None: the CLI keeps no sessions (an answer then goes into the instructions).
    resume_argv: Callable[[Sequence[str]], tuple[str, ...]] | None = None
    # The phase's permissions (read_only, workspace_write, full) as the CLI's flags or settings.
    permission_controls: Callable[[Permissions], PermissionControls] = _no_controls
    # The variables (names or globs) the CLI reads of the orchestrator's environment: its provider's
    # keys and base URLs, its own settings, those its configuration names (given that environment).
    # Nothing else of it reaches the agent (``domain/environments.agent_environment``).
    env_names: Callable[[Mapping[str, str]], tuple[str, ...]] = _no_env_names

    @property
    def program(self) -> str:
        return self.binary or self.argv[0]
