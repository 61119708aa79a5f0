"""``phaseloom doctor`` as a user runs it: a real subprocess, a real SQLite file, real git, the real CLIs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from phaseloom.cli.doctor import INSTALL_COMMANDS
from phaseloom.db.engine import Database
from phaseloom.db.models import Agent, ApiToken, SystemEvent
from phaseloom.runtimes.presets import PRESETS
from tests.api.live_server import free_port
from tests.runtimes.agent_e2e import agent_path, require_cli


def bare_path(tmp_path: Path) -> str:
    """A PATH with git and nothing else: none of the agent CLIs, no Chromium."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "git").symlink_to(shutil.which("git"))
    return str(bin_dir)


def doctor(folder: Path, path: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PHASELOOM_MCP_URL"}
    env.update(PATH=path, PHASELOOM_DATABASE_URL="sqlite:///p.db", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "phaseloom.cli.app", "doctor", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)


def rows_of(proc: subprocess.CompletedProcess) -> dict[str, dict]:
    return {row["check"]: row for row in json.loads(proc.stdout)}


@pytest.fixture
def initialised(tmp_path) -> Path:
    """A folder whose ``p.db`` was made by ``phaseloom init`` (so it holds the admin token)."""
    env = {**os.environ, "PHASELOOM_DATABASE_URL": "sqlite:///p.db"}
    subprocess.run([sys.executable, "-m", "phaseloom.cli.app", "init"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=120)
    return tmp_path


def snapshot(folder: Path) -> tuple[list, list]:
    """Every agent and token row: what doctor must leave as it found it."""
    db = Database.connect(f"sqlite:///{folder / 'p.db'}")
    try:
        with db.sessions() as session:
            agents = [(a.id, a.status, a.token_hash) for a in session.scalars(select(Agent))]
            tokens = [(t.id, t.token_hash, t.revoked_at) for t in session.scalars(select(ApiToken))]
            return agents, tokens
    finally:
        db.dispose()


def probe_events(folder: Path) -> list[str]:
    db = Database.connect(f"sqlite:///{folder / 'p.db'}")
    try:
        with db.sessions() as session:
            return list(session.scalars(select(SystemEvent.event_type).where(
                SystemEvent.entity_type == "agent").order_by(SystemEvent.id)))
    finally:
        db.dispose()


def test_without_the_clis_they_are_missing_with_the_fix_and_the_rest_is_ok(initialised):
    before = snapshot(initialised)
    proc = doctor(initialised, bare_path(initialised), "--json")
    assert proc.returncode == 0, proc.stderr  # a missing CLI is a warning
    rows = rows_of(proc)
    assert list(rows) == [*PRESETS, "database", "mcp", "git", "chromium"]
    for name, preset in PRESETS.items():
        assert rows[name] == {"check": name, "status": "warn", "detail": f"{preset.program} not found on PATH",
                              "fix": INSTALL_COMMANDS[name].format(version=preset.tested_version)}
    assert rows["claude-code"]["fix"] == "npm install -g @anthropic-ai/claude-code@2.1.197"
    assert rows["aider"]["fix"] == "pip install aider-chat==0.86.2"
    assert rows["database"]["status"] == "ok"
    assert rows["database"]["detail"].startswith(f"sqlite:///{initialised / 'p.db'}, schema up to date")
    assert rows["git"]["status"] == "ok" and rows["git"]["detail"].endswith(f"at {initialised / 'bin' / 'git'}")
    assert rows["mcp"]["status"] == "ok", rows["mcp"]
    assert "get_my_task and complete_task among them" in rows["mcp"]["detail"]
    # The probe agent was real (its history says so) and is gone, token and all.
    assert snapshot(initialised) == before
    assert probe_events(initialised) == ["agent.registered", "agent.deregistered"]


def test_a_required_cli_and_an_unreachable_mcp_url_fail(initialised):
    before = snapshot(initialised)
    url = f"http://127.0.0.1:{free_port()}/mcp"
    proc = doctor(initialised, bare_path(initialised), "--json", "--require", "claude", "--mcp-url", url)
    assert proc.returncode == 1
    rows = rows_of(proc)
    assert rows["claude-code"]["status"] == "fail" and rows["codex"]["status"] == "warn"
    assert rows["mcp"]["status"] == "fail"
    assert rows["mcp"]["detail"].startswith(f"cannot connect to the MCP endpoint {url}")
    assert rows["mcp"]["fix"] == "start `phaseloom serve` there or give another --mcp-url"
    assert snapshot(initialised) == before


def test_a_missing_database_fails_without_creating_one_in_plain_columns(tmp_path):
    proc = doctor(tmp_path, bare_path(tmp_path))
    assert proc.returncode == 1
    assert not (tmp_path / "p.db").exists()
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["check", "status", "detail", "fix"]
    assert not any(ch in proc.stdout for ch in "│┃━─")  # piped: no box drawing
    [database] = [line for line in lines if line.startswith("database ")]
    assert database.split()[:2] == ["database", "fail"]
    assert f"no database at {tmp_path / 'p.db'}" in database and database.endswith("run `phaseloom init` "
                                                                                   "(or pass --database-url)")
    [mcp] = [line for line in lines if line.startswith("mcp ")]
    assert mcp.split()[:2] == ["mcp", "warn"] and "not checked: the database is missing" in mcp


def test_an_unknown_required_cli_is_refused(tmp_path):
    proc = doctor(tmp_path, bare_path(tmp_path), "--require", "nano")
    assert proc.returncode == 2
    assert "--require 'nano': no such agent CLI; known: aider, claude-code, codex, opencode" in proc.stderr


def test_installed_clis_show_their_tested_versions(initialised):
    for preset in PRESETS.values():
        require_cli(preset.program)
    proc = doctor(initialised, agent_path(), "--json", *(f"--require={name}" for name in PRESETS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = rows_of(proc)
    for name, preset in PRESETS.items():
        found = shutil.which(preset.program, path=agent_path())
        assert rows[name] == {"check": name, "status": "ok", "fix": "",
                              "detail": f"{preset.tested_version} at {found} (the tested version)"}


@pytest.mark.parametrize(("prints", "status", "detail"), [
    ("tool 1.10.0 (build 7)", "warn", "1.10.0 at {found}: newer, untested (tested: 1.9.2)"),
    ("1.9.2", "ok", "1.9.2 at {found} (the tested version)"),
    ("v1.9", "warn", "1.9 at {found}: older (tested: 1.9.2)"),
])
def test_a_version_is_weighed_against_the_tested_one(tmp_path, monkeypatch, prints, status, detail):
    from phaseloom.cli.doctor import cli_row
    from phaseloom.runtimes.presets import Preset

    program = tmp_path / "tool"
    program.write_text(f"#!/bin/sh\necho '{prints}'\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    row = cli_row(Preset("tool", ("tool",), tested_version="1.9.2"), required=False)
    assert (row.status, row.detail) == (status, detail.format(found=program))
    assert row.fix == ("" if status == "ok" else "for the tested version: install tool")


def test_a_cli_whose_version_command_fails_is_reported(tmp_path, monkeypatch):
    from phaseloom.cli.doctor import cli_row
    from phaseloom.runtimes.presets import Preset

    program = tmp_path / "broken"
    program.write_text("#!/bin/sh\necho 'segmentation fault' >&2\nexit 139\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    row = cli_row(Preset("broken", ("broken",), tested_version="1.0.0"), required=True)
    assert row.status == "fail"
    assert row.detail == f"{program}: `broken --version` exited 139: segmentation fault"
