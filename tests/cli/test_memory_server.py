"""``phaseloom memory add|search`` through a running ``serve`` (``PHASELOOM_API_URL``): which settings
choose the route, a real serve answering real CLI processes, and the errors when it cannot."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from phaseloom.cli.memory_server import configured_server
from phaseloom.config import Settings
from phaseloom.domain.errors import PhaseloomError
from tests.api.live_server import free_port, start_serve, stop


def test_no_api_url_means_the_local_database(tmp_path):
    assert configured_server({}, tmp_path) is None


def test_the_environment_wins_over_the_toml_file_and_an_empty_value_switches_the_server_off(tmp_path):
    (tmp_path / "phaseloom.toml").write_text('api_url = "http://toml:1/"\napi_token = "plt_admin_1.toml"\n')
    from_toml = configured_server({}, tmp_path)
    assert (from_toml.url, from_toml.token) == ("http://toml:1", "plt_admin_1.toml")
    from_env = configured_server({"phaseloom_api_url": "http://env:2", "PHASELOOM_API_TOKEN": "t"}, tmp_path)
    assert (from_env.url, from_env.token) == ("http://env:2", "t")
    assert configured_server({"PHASELOOM_API_URL": ""}, tmp_path) is None


def test_it_reads_api_url_and_api_token_as_settings_does(tmp_path, monkeypatch):
    (tmp_path / "phaseloom.toml").write_text('api_url = "http://toml:1"\napi_token = "from-toml"\n')
    monkeypatch.chdir(tmp_path)
    for environ in ({}, {"PHASELOOM_API_URL": "http://env:2"}, {"PHASELOOM_API_TOKEN": "from-env"}):
        for name in ("PHASELOOM_API_URL", "PHASELOOM_API_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        settings = Settings()
        server = configured_server(environ, tmp_path)
        assert (server.url, server.token) == (settings.api_url, settings.api_token)


def test_an_agent_running_the_cli_sends_its_own_token(tmp_path):
    server = configured_server({"PHASELOOM_API_URL": "http://h:1", "PHASELOOM_AGENT_TOKEN": "plt_agent_a.b"}, tmp_path)
    assert server.token == "plt_agent_a.b"


@pytest.mark.parametrize(("toml", "environ", "message"), [
    ("", {"PHASELOOM_API_URL": "localhost:8765"}, r"is not an http\(s\) URL"),
    ("api_url = [", {}, "phaseloom.toml: cannot read it"),
])
def test_a_bad_setting_is_named(tmp_path, toml, environ, message):
    (tmp_path / "phaseloom.toml").write_text(toml)
    with pytest.raises(PhaseloomError, match=message):
        configured_server(environ, tmp_path)


def _cli(tmp_path, *args, **env):
    """The CLI with a database URL that does not exist: only the serve route can succeed."""
    environ = {**os.environ, "COLUMNS": "200", "PHASELOOM_HOME": str(tmp_path / "cli-home"),
               "PHASELOOM_DATABASE_URL": f"sqlite:///{tmp_path}/not-here.db", **env}
    return subprocess.run([sys.executable, "-m", "phaseloom.cli.app", *args], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def served(tmp_path):
    """A real ``phaseloom serve`` on its own SQLite file, with project ``demo`` and an admin token."""
    home = tmp_path / "server"
    home.mkdir()
    db_url = f"sqlite:///{home}/p.db"
    environ = {**os.environ, "PHASELOOM_DATABASE_URL": db_url, "PHASELOOM_HOME": str(home)}
    init = subprocess.run([sys.executable, "-m", "phaseloom.cli.app", "init"], cwd=home, env=environ,
                          capture_output=True, text=True, timeout=120, check=True)
    token = next(line for line in init.stdout.splitlines() if line.startswith("plt_admin_"))
    subprocess.run([sys.executable, "-m", "phaseloom.cli.app", "project", "create", "demo"], cwd=home, env=environ,
                   capture_output=True, text=True, timeout=120, check=True)
    port = free_port()
    proc = start_serve(db_url, [port], home)[0]
    try:
        yield {"PHASELOOM_API_URL": f"http://127.0.0.1:{port}", "PHASELOOM_API_TOKEN": token}
    finally:
        stop(proc)


def test_add_and_search_go_through_the_running_serve(tmp_path, served):
    added = _cli(tmp_path, "memory", "add", "Retry the S3 upload with exponential backoff", "--project", "demo",
                 "--type", "error_fix", "--tag", "s3", **served)
    assert added.returncode == 0, added.stderr
    assert "memory 1 created (error_fix)" in added.stdout
    found = _cli(tmp_path, "memory", "search", "S3 upload backoff", "--project", "demo", "--mode", "keyword",
                 **served)
    assert found.returncode == 0, found.stderr
    assert "Retry the S3 upload" in found.stdout and "error_fix" in found.stdout
    # The same search by project id, filtered to a type it does not have: no rows.
    empty = _cli(tmp_path, "memory", "search", "S3 upload", "--project", "1", "--type", "decision", **served)
    assert empty.returncode == 0 and "Retry" not in empty.stdout
    assert not (tmp_path / "not-here.db").exists()


def test_the_servers_refusals_are_one_line_each(tmp_path, served):
    unknown = _cli(tmp_path, "memory", "search", "x", "--project", "nosuch", **served)
    assert unknown.returncode == 2 and "404 project nosuch not found" in unknown.stderr
    bad_token = _cli(tmp_path, "memory", "add", "x", "--project", "demo",
                     **{**served, "PHASELOOM_API_TOKEN": "plt_admin_1.wrong"})
    assert bad_token.returncode == 2 and "401" in bad_token.stderr
    bad_type = _cli(tmp_path, "memory", "add", "x", "--project", "demo", "--type", "bogus", **served)
    assert bad_type.returncode == 2 and "memory_type" in bad_type.stderr
    assert "Traceback" not in unknown.stderr + bad_token.stderr + bad_type.stderr


def test_a_configured_serve_that_is_down_is_an_error_without_fall_back(tmp_path):
    down = {"PHASELOOM_API_URL": f"http://127.0.0.1:{free_port()}"}
    for args in (("memory", "add", "x", "--project", "demo"), ("memory", "search", "x", "--project", "demo")):
        result = _cli(tmp_path, *args, **down)
        assert result.returncode == 2
        assert "is not reachable" in result.stderr and "no fall-back to the local database" in result.stderr
        assert "PHASELOOM_API_URL= (empty)" in result.stderr and "Traceback" not in result.stderr
    # Emptied, the same command takes the local route (here: no database, which it says).
    local = _cli(tmp_path, "memory", "search", "x", PHASELOOM_API_URL="")
    assert local.returncode == 2 and "no phaseloom database here" in local.stderr
