"""``phaseloom memory add|search`` without a ``serve``: the whole command answered by the persistent
worker. Real CLI processes, the real worker with the real model, real SQLite files and PostgreSQL
databases; stale workers played by a real socket server speaking the wire format."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from phaseloom.cli.memory_route import MEMORY_WORKER, phaseloom_identity, worker_settings
from phaseloom.config import Settings
from phaseloom.db.engine import Database, absolute_url
from phaseloom.db.migrate import upgrade
from phaseloom.embeddings import DIMENSIONS, MODEL_NAME, embedding_available
from phaseloom.embeddings._worker_client import recv_header, send_message, socket_path
from phaseloom.embeddings.worker import WorkerEmbedder

needs_model = pytest.mark.skipif(not embedding_available(), reason="phaseloom[memory] (embedding model) not installed")

NOTES = [("Retry the S3 upload with exponential backoff", "error_fix"),
         ("The login page needs a dark theme", "decision"),
         ("pytest fixtures for PostgreSQL live in tests/conftest.py", "codebase_knowledge")]
SEARCHES = [("sending files to cloud storage keeps failing", "semantic"), ("S3 upload backoff", "keyword"),
            ("where are the database fixtures", "hybrid")]


def _cli(folder: Path, env: dict, *args: str, importtime: bool = False) -> subprocess.CompletedProcess:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", "phaseloom.cli.app", *args], cwd=folder,
                          env={**os.environ, "COLUMNS": "200", **env}, capture_output=True, text=True, timeout=300,
                          check=False)


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _project(folder: Path, env: dict) -> str:
    _ok(_cli(folder, env, "init"))  # the shipped workflows
    return _ok(_cli(folder, env, "project", "create", "demo"))


@pytest.fixture
def two_databases(request, tmp_path, sqlite_template):
    """Two clean, migrated databases on the backend of the parameter."""
    if request.param == "sqlite":
        urls = []
        for name in ("one.db", "two.db"):
            shutil.copy(sqlite_template, tmp_path / name)
            urls.append(f"sqlite:///{tmp_path / name}")
        return urls
    server = request.getfixturevalue("pg_server")
    if isinstance(server, Exception):
        pytest.skip(f"PostgreSQL not reachable: {server}")
    urls = [server.create_database() for _ in range(2)]
    for url in urls:
        db = Database.connect(url)
        upgrade(db.engine)
        db.dispose()
    return urls


@pytest.fixture
def home(tmp_path):
    folder = tmp_path / ".phaseloom"
    yield folder
    _cli(tmp_path, {"PHASELOOM_HOME": str(folder)}, "memory", "worker", "stop")


def _session(folder: Path, env: dict) -> list[str]:
    """Project, three notes (one twice: merged), three searches, and the refusals: what each printed."""
    outputs = [_project(folder, env)]
    for content, memory_type in [*NOTES, NOTES[0]]:
        outputs.append(_ok(_cli(folder, env, "memory", "add", content, "--type", memory_type, "--project", "demo",
                                "--tag", "t")))
    for query, mode in SEARCHES:
        outputs.append(_ok(_cli(folder, env, "memory", "search", query, "--project", "demo", "--mode", mode)))
    for refused in (("memory", "add", "x", "--project", "nosuch"), ("memory", "add", "x", "--type", "bogus"),
                    ("memory", "search", "x", "--project", "nosuch")):
        result = _cli(folder, env, *refused)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        outputs.append(result.stderr)
    return outputs


@needs_model
@pytest.mark.parametrize("two_databases", ["sqlite", "postgresql"], indirect=True)
def test_the_worker_prints_what_the_command_in_process_prints(tmp_path, home, two_databases):
    through_worker, in_process = two_databases
    env = {"PHASELOOM_HOME": str(home)}
    worker_outputs = _session(tmp_path, {**env, "PHASELOOM_DATABASE_URL": through_worker})
    local_outputs = _session(tmp_path, {**env, "PHASELOOM_DATABASE_URL": in_process,
                                        "PHASELOOM_MEMORY_WORKER_IDLE_SECONDS": "0"})
    assert worker_outputs == local_outputs
    assert "memory 1 merged (error_fix)" in worker_outputs[4] and "S3 upload" in worker_outputs[5]
    assert "project nosuch not found" in worker_outputs[-1]
    assert "unknown memory type 'bogus'" in worker_outputs[-2]
    # The command itself imported neither the database layer nor numpy: the worker did the work.
    search = _cli(tmp_path, {**env, "PHASELOOM_DATABASE_URL": through_worker}, "memory", "search", "S3 upload",
                  "--project", "demo", importtime=True)
    assert search.returncode == 0 and "Retry the S3 upload" in search.stdout
    imported = {line.split("|")[-1].strip() for line in search.stderr.splitlines() if line.startswith("import time")}
    assert "sqlalchemy" not in imported and "numpy" not in imported and "phaseloom.config" not in imported
    assert "memory worker unavailable" not in search.stderr


@needs_model
def test_a_worker_started_for_one_database_answers_each_command_from_its_own(tmp_path, home, sqlite_template):
    """The worker outlives the command that started it; another folder's relative URL, another database:
    each command gets its own database's answer."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(sqlite_template, tmp_path / name / "p.db")
    env = {"PHASELOOM_HOME": str(home), "PHASELOOM_DATABASE_URL": "sqlite:///p.db"}  # relative to each folder
    for name in ("a", "b"):
        _project(tmp_path / name, env)
        _ok(_cli(tmp_path / name, env, "memory", "add", f"note kept only in folder {name}", "--project", "demo"))
    for name, other in (("a", "b"), ("b", "a")):
        found = _ok(_cli(tmp_path / name, env, "memory", "search", "note kept only in folder", "--project", "demo"))
        assert f"folder {name}" in found and f"folder {other}" not in found


class StaleWorker:
    """A process on the worker's socket that is not this phaseloom's worker: an older one that only
    embeds (``unsupported request``), or one that answers with another identity or database."""

    def __init__(self, path: Path, reply: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(8)
        self.path, self.reply, self.requests = path, reply, []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            conn, _ = self.server.accept()
            with conn:
                try:
                    request = recv_header(conn)
                except (ConnectionError, OSError, ValueError):
                    continue  # a liveness probe
                self.requests.append(request)
                send_message(conn, {"ok": True} if request.get("op") == "stop" else self.reply)
                if request.get("op") == "stop":
                    self.server.close()
                    self.path.unlink()
                    return


@needs_model
@pytest.mark.parametrize("reply", [
    {"error": "unsupported request (protocol 1)"},
    {"phaseloom": "0.0.1 /elsewhere", "database_url": "sqlite:////elsewhere.db",
     "result": {"id": 99, "action": "created", "memory_type": "learning"}},
    {"phaseloom": phaseloom_identity(), "database_url": "sqlite:////elsewhere.db",
     "result": {"id": 99, "action": "created", "memory_type": "learning"}},
], ids=["older-worker", "other-phaseloom", "other-database"])
def test_a_stale_worker_is_replaced_and_never_answers(tmp_path, home, sqlite_template, reply):
    shutil.copy(sqlite_template, tmp_path / "p.db")
    env = {"PHASELOOM_HOME": str(home), "PHASELOOM_DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    _project(tmp_path, env)
    stale = StaleWorker(socket_path(home), reply)
    added = _ok(_cli(tmp_path, env, "memory", "add", "a note for the right database", "--project", "demo"))
    assert added.strip() == "memory 1 created (learning)"
    assert [r["op"] for r in stale.requests] == ["memory", "stop"]
    found = _ok(_cli(tmp_path, env, "memory", "search", "note right database", "--project", "demo"))
    assert "a note for the right database" in found


@needs_model
def test_without_a_worker_the_command_runs_in_process_and_says_so(tmp_path, sqlite_template):
    """A home where no worker can start (a file, not a folder): the same answer, from this process."""
    shutil.copy(sqlite_template, tmp_path / "p.db")
    (tmp_path / "home").write_text("not a folder")
    env = {"PHASELOOM_HOME": str(tmp_path / "home"), "PHASELOOM_DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    _project(tmp_path, env)
    added = _cli(tmp_path, env, "memory", "add", "works without the worker", "--project", "demo")
    assert added.returncode == 0 and added.stdout.strip() == "memory 1 created (learning)"
    assert "memory worker unavailable" in added.stderr and "running the command in this process" in added.stderr


@needs_model
def test_the_memory_worker_still_embeds_for_other_callers(tmp_path, home, sqlite_template):
    shutil.copy(sqlite_template, tmp_path / "p.db")
    env = {"PHASELOOM_HOME": str(home), "PHASELOOM_DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    _project(tmp_path, env)
    _ok(_cli(tmp_path, env, "memory", "add", "the upload fails with a timeout", "--project", "demo"))
    assert "running" in _ok(_cli(tmp_path, env, "memory", "worker", "status")).replace("not running", "")
    vectors = WorkerEmbedder(home, name=MODEL_NAME, dimensions=DIMENSIONS, entry_module=MEMORY_WORKER).embed(
        ["the upload fails with a timeout", "uploading times out", "a recipe for bread"])
    assert vectors.shape == (3, DIMENSIONS)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def _write(folder: Path, toml: str) -> None:
    (folder / "phaseloom.toml").write_text(toml)


@pytest.mark.parametrize(("toml", "environ", "option"), [
    ("", {}, None),
    ('database_url = "sqlite:///from-toml.db"\nhome = "h"\nsqlite_busy_timeout_ms = 1234\n', {}, None),
    ('database_url = "sqlite:///from-toml.db"\nmemory_semantic = false\n',
     {"phaseloom_database_url": "sqlite:///sub/from-env.db", "PHASELOOM_MEMORY_SEMANTIC": "1"}, None),
    ('database_url = "sqlite:///from-toml.db"\n', {"PHASELOOM_DATABASE_URL": "sqlite:///sub/from-env.db"},
     "sqlite:///from-option.db"),
    ("", {"PHASELOOM_DATABASE_URL": "postgresql://u@db.example:5432/x", "PHASELOOM_HOME": "/tmp/abs-home"}, None),
], ids=["defaults", "toml", "env-over-toml", "option-first", "postgresql"])
def test_the_route_names_the_database_and_home_the_settings_would(tmp_path, monkeypatch, toml, environ, option):
    _write(tmp_path, toml)
    for name in ("from-toml.db", "from-option.db", "sub/from-env.db", ".phaseloom/phaseloom.db"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("PHASELOOM_"):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    expected = Settings()
    if option:
        expected = expected.model_copy(update={"database_url": option})
    route = worker_settings(option, environ, tmp_path)
    assert route.settings["database_url"] == absolute_url(expected.database_url)
    assert route.home == expected.home.resolve()
    given = Settings(**route.settings)
    assert (given.sqlite_busy_timeout_ms, given.memory_semantic) == (expected.sqlite_busy_timeout_ms,
                                                                     expected.memory_semantic)


@pytest.mark.parametrize("environ", [
    {"PHASELOOM_MEMORY_WORKER_IDLE_SECONDS": "0"}, {"PHASELOOM_MEMORY_WORKER_IDLE_SECONDS": "soon"},
    {"PHASELOOM_DATABASE_URL": "sqlite://"}, {"PHASELOOM_DATABASE_URL": "sqlite:///:memory:"},
    {"PHASELOOM_DATABASE_URL": "sqlite:///not-here.db"},
], ids=["worker-off", "bad-idle-value", "memory", "memory-named", "missing-file"])
def test_where_the_command_runs_in_process(tmp_path, environ):
    assert worker_settings(None, environ, tmp_path) is None


def test_a_missing_database_is_refused_as_in_process(tmp_path):
    result = _cli(tmp_path, {"PHASELOOM_DATABASE_URL": f"sqlite:///{tmp_path}/none.db",
                             "PHASELOOM_HOME": str(tmp_path / ".phaseloom")}, "memory", "search", "x")
    assert result.returncode == 2 and "no phaseloom database here" in result.stderr


def test_a_worker_refuses_a_command_of_another_phaseloom_and_names_its_database_in_each_reply(tmp_path):
    from phaseloom.cli.memory_worker import MemoryCommands

    commands = MemoryCommands(embedder=None)
    other = commands.answer({"phaseloom": "0.0.1 /elsewhere", "command": "add", "arguments": {},
                             "settings": {"database_url": f"sqlite:///{tmp_path}/p.db"}})
    assert other["phaseloom"] == phaseloom_identity() and "not 0.0.1 /elsewhere" in other["error"]
    assert "result" not in other and "database_url" not in other
    missing = commands.answer({"phaseloom": phaseloom_identity(), "command": "search", "arguments": {},
                               "settings": {"database_url": f"sqlite:///{tmp_path}/none.db"}})
    assert missing["database_url"] == f"sqlite:///{tmp_path}/none.db"
    assert "no phaseloom database here" in missing["error"] and not (tmp_path / "none.db").exists()


@pytest.mark.parametrize(("limit", "message"), [("0", "greater than or equal to 1"),
                                                ("101", "less than or equal to 100")])
def test_a_limit_out_of_bounds_is_refused_in_typers_words(tmp_path, limit, message):
    result = _cli(tmp_path, {"PHASELOOM_HOME": str(tmp_path / ".phaseloom")}, "memory", "search", "x", "-n", limit)
    assert result.returncode == 2 and "Usage:" in result.stderr
    assert f"Invalid value for '--limit' / '-n': Input should be {message}" in result.stderr
