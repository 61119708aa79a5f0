"""Health: ``/api/health/live`` (the process answers) and ``/api/health`` (and it can reach its database).

Neither needs a token. A load balancer or supervisor that only wants to know the process is up calls
``/live``, which touches nothing; ``/api/health`` runs ``SELECT 1`` and answers 503 with the reason when
the database cannot be reached, so a broken database is seen before the first real request fails.
A database that does not answer at all (a port that accepts and never speaks, an unroutable address)
is a 503 after ``HEALTH_TIMEOUT_SECONDS``, not a request that hangs: the check runs in a worker thread
that the route stops waiting for (the engine's own connect timeout ends that thread later).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as CheckTimedOut
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from phaseloom.api.deps import get_db
from phaseloom.db.engine import Database

router = APIRouter(tags=["health"])
REASON_CHARS = 300  # the first line of the driver's error, enough to tell "refused" from "auth failed"
HEALTH_TIMEOUT_SECONDS = 3.0
# Few threads: a check still waiting on a silent database occupies one, and later checks queue behind it
# and time out too, which is the right answer until the database speaks again.
_CHECKS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="phaseloom-health")


def _select_one(db: Database) -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def database_problem(db: Database, timeout: float = HEALTH_TIMEOUT_SECONDS) -> str | None:
    """None when ``SELECT 1`` works within ``timeout`` seconds, else why not (exception type and first
    line, no URL or password)."""
    try:
        _CHECKS.submit(_select_one, db).result(timeout=timeout)
    except CheckTimedOut:
        return f"TimeoutError: the database did not answer within {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is the answer, not a crash
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}: {first_line}"[:REASON_CHARS]
    return None


@router.get("/api/health/live", responses={200: {"description": "the process is up (the database is not checked)"}})
def live() -> dict:
    return {"status": "ok"}


@router.get("/api/health", responses={503: {"description": "the database cannot be reached; `reason` says why"}})
def health(db: Annotated[Database, Depends(get_db)]):
    problem = database_problem(db)
    if problem is not None:
        return JSONResponse(status_code=503, content={"status": "unavailable", "backend": db.backend,
                                                      "database": "unreachable", "reason": problem})
    return {"status": "ok", "backend": db.backend, "database": "ok"}
