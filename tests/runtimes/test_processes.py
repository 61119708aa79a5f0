"""The agent launcher: an agent's peak memory and CPU are its own, and it ends as the agent ended."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from phaseloom.runtimes import processes

ENV = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}


def test_the_agents_peak_memory_does_not_include_the_orchestrators():
    held = bytearray(300 * 1024 * 1024)  # this process, standing in for an orchestrator with a model loaded
    for i in range(0, len(held), 4096):
        held[i] = 1
    proc = processes.launch(["true"], cwd=".", env=ENV, start_new_session=True)
    code, used = processes.reap(proc, 30)
    assert code == 0
    # `true` itself is a few hundred KiB; the launcher it was forked from, a fresh Python, a few MiB.
    assert 0 < used.peak_memory_kib < 32 * 1024, used
    del held


def test_what_the_agent_itself_uses_is_counted():
    hungry = "b = bytearray(150 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1"
    proc = processes.launch([sys.executable, "-c", hungry], cwd=".", env=ENV, start_new_session=True)
    code, used = processes.reap(proc, 60)
    assert code == 0
    assert 150 * 1024 <= used.peak_memory_kib < 250 * 1024
    assert used.cpu_seconds > 0


def test_the_launcher_ends_with_the_agents_exit_code_or_signal():
    proc = processes.launch(["sh", "-c", "exit 3"], cwd=".", env=ENV, start_new_session=True)
    assert processes.reap(proc, 30)[0] == 3
    proc = processes.launch(["sh", "-c", "kill -USR1 $$"], cwd=".", env=ENV, start_new_session=True)
    assert processes.reap(proc, 30)[0] == -10


def test_a_stopped_agent_is_measured_through_the_launcher():
    proc = processes.launch(["sleep", "30"], cwd=".", env=ENV, start_new_session=True)
    time.sleep(0.3)
    started = time.monotonic()
    used = processes.stop(proc)
    assert time.monotonic() - started < processes.KILL_GRACE_SECONDS  # SIGTERM ended it: no SIGKILL needed
    assert proc.returncode == -15
    assert used.unmeasured_reason == "" and 0 < used.peak_memory_kib < 32 * 1024


def test_the_agent_sees_the_argv_it_was_given(tmp_path):
    proc = processes.launch(["sh", "-c", 'echo "$0 $1"', "zero", "one"], cwd=str(tmp_path), env=ENV,
                            stdout=subprocess.PIPE)
    out = proc.stdout.read()
    processes.reap(proc, 30)
    proc.stdout.close()
    assert out == b"zero one\n"


@pytest.mark.parametrize(("program", "error"), [
    ("no-such-agent-cli", FileNotFoundError),
    ("./no-such-script", FileNotFoundError),
    ("./not-executable", PermissionError),
    ("not-executable", PermissionError),  # on PATH, but not executable
])
def test_a_program_that_cannot_run_is_refused_before_anything_starts(tmp_path, program, error):
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    (tmp_path / "not-executable").chmod(0o644)
    with pytest.raises(error):
        processes.launch([program], cwd=str(tmp_path), env={**ENV, "PATH": f"{tmp_path}:{ENV['PATH']}"})
