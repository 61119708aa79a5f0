"""Domain exceptions. Each carries a plain-words message that every adapter shows as is.

Adapters map the classes, never the wording: the CLI prints ``str(exc)`` and exits 2,
the API maps :class:`NotFound` to 404, :class:`Conflict` to 409 and :class:`InvalidInput` to 422.
"""

from __future__ import annotations


class PhaseloomError(Exception):
    """Base class of every error phaseloom reports to a user."""

    code = "error"


class NotFound(PhaseloomError):
    code = "not_found"

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident!s} not found")


class InvalidInput(PhaseloomError):
    code = "invalid_input"


class Conflict(PhaseloomError):
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, from_phase: str, to_phase: str, allowed: list[str], why: str = "") -> None:
        self.from_phase = from_phase
        self.to_phase = to_phase
        self.allowed = list(allowed)
        allowed_text = ", ".join(allowed) if allowed else "none"
        reason = f" ({why})" if why else ""
        super().__init__(
            f"cannot move from {from_phase} to {to_phase}{reason}; allowed: {allowed_text}"
        )


class WipLimitReached(Conflict):
    code = "wip_limit_reached"

    def __init__(self, column: str, limit: int, in_use: int) -> None:
        self.column = column
        self.limit = limit
        self.in_use = in_use
        super().__init__(
            f"column {column!r} is at its WIP limit ({in_use}/{limit}); use force to override"
        )


class Unauthenticated(PhaseloomError):
    """No credentials, or credentials that match nothing (HTTP 401)."""

    code = "unauthenticated"


class Forbidden(PhaseloomError):
    """Valid credentials that may not do this (HTTP 403)."""

    code = "forbidden"


class TaskNotClaimable(Conflict):
    code = "task_not_claimable"


class LeaseLost(TaskNotClaimable):
    """The worker's claim on a task ended without its agent reporting (lease expired, task released):
    the queue may hand the task to another agent, so this one must stop working on it."""

    code = "lease_lost"


class WorkflowInvalid(InvalidInput):
    """A workflow document failed validation; ``problems`` lists each one with its location."""

    code = "workflow_invalid"

    def __init__(self, problems: list["WorkflowProblem"]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"workflow is invalid ({len(problems)} problem(s)):\n{lines}")


class WorkflowProblem:
    """One thing wrong with a workflow document, located by file, line and field."""

    def __init__(self, message: str, field: str = "", file: str = "", line: int | None = None,
                 column: int | None = None):
        self.message = message
        self.field = field
        self.file = file
        self.line = line
        self.column = column  # 1-based; only syntax errors know it

    def __str__(self) -> str:
        where = self.file or "<workflow>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"

    def __repr__(self) -> str:
        return f"WorkflowProblem({str(self)!r})"

    def as_dict(self) -> dict:
        return {"message": self.message, "field": self.field, "file": self.file, "line": self.line,
                "column": self.column}
