"""Shared steps of the peer-format tests: store a loaded workflow and open a ticket on it."""

from __future__ import annotations

from pathlib import Path

from phaseloom.services.projects import ProjectService
from phaseloom.services.tickets import TicketService
from phaseloom.services.workflows import WorkflowService

PEER_FORMATS = Path(__file__).resolve().parents[1] / "data" / "peer_formats"


def ticket_on(uow, document):
    """Store ``document``, create a project on it and a ticket; the ticket and the stored workflow."""
    WorkflowService(uow).save_document(document, source="test")
    ProjectService(uow).create_project("imported", document.name)
    ticket = TicketService(uow).create_ticket("imported", "first ticket")
    return ticket, WorkflowService(uow).get(document.name)


def block_text(path: Path, key: str) -> str:
    """The literal block ``key: |`` of a YAML file, de-indented, read without a YAML parser."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{key}: |")
    indent = None
    body: list[str] = []
    for line in lines[start + 1:]:
        if line.strip():
            width = len(line) - len(line.lstrip(" "))
            indent = width if indent is None else indent
            if width < indent:
                break
        body.append(line[indent:] if indent is not None and line.strip() else "")
    while body and not body[-1]:
        body.pop()
    return "\n".join(body) + "\n"
