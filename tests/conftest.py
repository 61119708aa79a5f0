"""Shared fixtures. ``db`` runs every test that uses it on SQLite and on PostgreSQL.

PostgreSQL tests get a database of their own per test run (created here, dropped at the end),
so parallel runs never meet. Without a server they skip with the reason, unless
``PHASELOOM_REQUIRE_SERVICES=1`` (CI), where a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from phaseloom.db.engine import Database
from phaseloom.db.migrate import upgrade
from phaseloom.db.models import Base
from phaseloom.db.unit_of_work import UnitOfWork

PG_ADMIN_URL = os.environ.get("PHASELOOM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PHASELOOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("PHASELOOM_REQUIRE_SERVICES") == "1"
ROOT = Path(__file__).resolve().parent.parent


def service_unavailable(reason: str) -> None:
    """Skip the test, or fail it when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


class PostgresServer:
    """Creates throw-away databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create_database(self) -> str:
        name = f"phaseloom_t_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def drop_all(self) -> None:
        with self.engine.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.engine.dispose()


@pytest.fixture(scope="session")
def pg_server():
    try:
        server = PostgresServer(PG_ADMIN_URL)
        with server.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        yield exc
        return
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def pg_url(pg_server) -> str:
    """A migrated PostgreSQL database for this test run."""
    if isinstance(pg_server, Exception):
        service_unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {pg_server}")
    url = pg_server.create_database()
    db = Database.connect(url)
    upgrade(db.engine)
    db.dispose()
    return url


@pytest.fixture(scope="session")
def pgvector_url() -> str:
    """A migrated database on a private PostgreSQL with pgvector (pgserver's build), for the
    ``db_url`` parameter ``"pgvector"``: the test server has no pgvector."""
    try:
        import pgserver
    except ImportError:
        pytest.skip("pgserver (a PostgreSQL with pgvector, in phaseloom[test]) is not installed")
    # Not under pytest's temporary directory: a concurrent pytest run prunes old ones, and would
    # delete the data directory from under the running server.
    server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="phaseloom-pgvector-")), cleanup_mode="delete")
    server.psql("CREATE DATABASE phaseloom_pgvector;")
    url = server.get_uri("phaseloom_pgvector").replace("postgresql://", "postgresql+psycopg://", 1)
    db = Database.connect(url)
    upgrade(db.engine)
    db.dispose()
    yield url
    server.cleanup()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = Database.connect(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


def _truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A clean, migrated database URL on each backend (and PostgreSQL with pgvector for the tests
    that ask for it: ``@pytest.mark.parametrize("db_url", ["pgvector"], indirect=True)``)."""
    if request.param == "sqlite":
        path = tmp_path / "phaseloom.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pgvector_url" if request.param == "pgvector" else "pg_url")
    db = Database.connect(url)
    _truncate_all(db)
    db.dispose()
    return url


@pytest.fixture
def db(db_url):
    from phaseloom.services.review_outcomes import wire_review_outcomes

    database = wire_review_outcomes(Database.connect(db_url))
    yield database
    database.dispose()


@pytest.fixture
def uow(db) -> UnitOfWork:
    return UnitOfWork(db)


@pytest.fixture
def workflow_file():
    from phaseloom.loaders.sources import shipped_workflow

    return shipped_workflow


@pytest.fixture
def project(uow):
    """The shipped software_development workflow and a project ``demo`` that uses it."""
    from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
    from phaseloom.services.projects import ProjectService
    from phaseloom.services.workflows import WorkflowService

    WorkflowService(uow).save_document(load_workflow_source(shipped_workflow("software_development")))
    return ProjectService(uow).create_project("demo", "software_development")


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001
        service_unavailable(f"Redis not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL
