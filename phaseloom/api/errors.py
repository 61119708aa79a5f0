"""One JSON shape for every error: ``{"error": {"code", "message", ...details}}``.

Domain errors map by class (never by wording); input the database cannot hold (an id past
the integer range, text PostgreSQL refuses) is a 422 too, so bad input is never a 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from phaseloom.domain.errors import (
    Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound, PhaseloomError, Unauthenticated,
    WipLimitReached, WorkflowInvalid,
)

log = logging.getLogger(__name__)

STATUS_BY_CLASS: tuple[tuple[type[PhaseloomError], int], ...] = (
    (Unauthenticated, 401), (Forbidden, 403), (NotFound, 404), (Conflict, 409), (InvalidInput, 422),
)


def error_response(status: int, code: str, message: str, headers: dict | None = None, **details) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **details}}, status_code=status,
                        headers=headers)


def status_for(exc: PhaseloomError) -> int:
    return next((status for cls, status in STATUS_BY_CLASS if isinstance(exc, cls)), 400)


def details_of(exc: PhaseloomError) -> dict:
    if isinstance(exc, InvalidTransition):
        return {"from_phase": exc.from_phase, "to_phase": exc.to_phase, "allowed_targets": exc.allowed}
    if isinstance(exc, WipLimitReached):
        return {"column": exc.column, "limit": exc.limit, "in_use": exc.in_use}
    if isinstance(exc, WorkflowInvalid):
        return {"problems": [p.as_dict() for p in exc.problems]}
    if isinstance(exc, NotFound):
        return {"kind": exc.kind, "id": str(exc.ident)}
    return {}


async def _domain_error(_request: Request, exc: PhaseloomError) -> JSONResponse:
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, exc.code, str(exc), headers, **details_of(exc))


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    # Only loc/msg/type: the rest (input, ctx) may hold values JSON cannot carry.
    problems = [{"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
                for e in exc.errors()]
    summary = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['message']}" for p in problems[:5])
    return error_response(422, "invalid_input", f"invalid request: {summary}", problems=problems)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated", 403: "forbidden"}
    return error_response(exc.status_code, code.get(exc.status_code, "http_error"), str(exc.detail),
                          getattr(exc, "headers", None))


async def _integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
    return error_response(409, "conflict", "the request conflicts with stored data or refers to something "
                                           "that does not exist")


async def _statement_error(request: Request, exc: StatementError) -> JSONResponse:
    if isinstance(exc, DataError) or isinstance(exc.orig, (OverflowError, ValueError)):
        return error_response(422, "invalid_input", "a value in the request cannot be stored "
                                                    "(out of range or not allowed characters)")
    from phaseloom.db.retry import is_transient

    if is_transient(exc):  # the pool reconnects on a later request; tell the client to come back
        return error_response(503, "database_unavailable", "the database is unreachable; retry shortly",
                              {"Retry-After": "1"})
    return await _server_error(request, exc)


async def _overflow_error(_request: Request, exc: OverflowError) -> JSONResponse:
    # pysqlite raises this unwrapped for an integer past 64 bits.
    return error_response(422, "invalid_input", "a number in the request is out of range")


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle this request")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PhaseloomError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StatementError, _statement_error)
    app.add_exception_handler(OverflowError, _overflow_error)
    app.add_exception_handler(Exception, _server_error)
