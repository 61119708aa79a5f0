"""The orchestrator's settings reach an agent's own stdio ``phaseloom mcp`` as PHASELOOM_* variables."""

from __future__ import annotations

import json
from pathlib import Path

from phaseloom.config import ModelPrice, Settings, server_environment
from phaseloom.runtimes.command import CommandRuntime
from phaseloom.runtimes.presets.base import stdio_launch
from tests.runtimes.conftest import claimed, make_assignment  # noqa: F401 - a fixture

CONFIGURED = Settings(
    lease_seconds=42.0, sqlite_busy_timeout_ms=1234, memory_semantic=False, log_level="debug",
    home=Path("relative-home"), currency="EUR", workspace_retention="12h",
    pricing={"default": ModelPrice(input_per_million=1.5, output_per_million=3.0)},
    guardian_judge_api_key="judge-secret", api_token="api-secret", database_url="sqlite:///other.db")


def test_the_server_reads_back_the_orchestrators_settings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the agent's worktree: no phaseloom.toml
    env = server_environment(CONFIGURED)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    served = Settings()
    kept = CONFIGURED.model_dump(exclude={"home", "database_url", "guardian_judge_api_key", "api_token", "api_url",
                                          "mcp_url", "agent_env", "memory_worker_idle_seconds"})
    assert served.model_dump(include=set(kept)) == kept
    assert served.home == Path("relative-home").resolve()  # the worktree is elsewhere: absolute


def test_secrets_and_the_database_are_not_handed_on():
    env = server_environment(CONFIGURED)
    assert not any(secret in json.dumps(env) for secret in ("judge-secret", "api-secret", "other.db"))


def test_the_stdio_launch_carries_them_and_the_runs_own_database(tmp_path):
    launch = stdio_launch("sqlite:///run.db", "token", server_environment(CONFIGURED))
    assert launch.env["PHASELOOM_SQLITE_BUSY_TIMEOUT_MS"] == "1234"
    assert launch.env["PHASELOOM_DATABASE_URL"].endswith("/run.db")


def test_a_preset_writes_them_into_its_clis_mcp_configuration(tmp_path, claimed):
    task, agent = claimed
    assignment = make_assignment(task, agent, tmp_path, mcp_url="", database_url="sqlite:////tmp/x.db")
    assignment.server_settings = server_environment(CONFIGURED)
    _, env, run_dir = CommandRuntime(preset_name="claude-code").prepare(assignment)
    server = json.loads((run_dir / "mcp.json").read_text())["mcpServers"]["phaseloom"]
    # Claude Code expands ${VAR} in its MCP configuration from its own environment.
    assert server["env"]["PHASELOOM_LEASE_SECONDS"] == "${PHASELOOM_LEASE_SECONDS}"
    assert (env["PHASELOOM_LEASE_SECONDS"], env["PHASELOOM_MEMORY_SEMANTIC"]) == ("42.0", "false")
