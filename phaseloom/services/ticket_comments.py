"""Comments on a ticket, from people and agents."""

from __future__ import annotations

from sqlalchemy import select

from phaseloom.db.models import Ticket, TicketComment
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.db.unit_of_work import UnitOfWork

MAX_COMMENT_LENGTH = 20_000


class TicketCommentService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def add(self, ticket_id: int, body: str, *, author: str) -> TicketComment:
        if not body.strip():
            raise InvalidInput("a comment needs some text")
        if len(body) > MAX_COMMENT_LENGTH:
            raise InvalidInput(f"a comment may be at most {MAX_COMMENT_LENGTH} characters")
        with self.uow:
            ticket = self.uow.session.get(Ticket, int(ticket_id))
            if ticket is None:
                raise NotFound("ticket", ticket_id)
            comment = TicketComment(ticket_id=ticket.id, author=author, body=body.strip())
            self.uow.session.add(comment)
            self.uow.session.flush()
            self.uow.emit("ticket.commented", "ticket", ticket.id, project_id=ticket.project_id,
                          ticket_id=ticket.id, phase_id=ticket.phase_id,
                          payload={"comment_id": comment.id, "author": author})
            return comment

    def list(self, ticket_id: int) -> list[TicketComment]:
        with self.uow:
            if self.uow.session.get(Ticket, int(ticket_id)) is None:
                raise NotFound("ticket", ticket_id)
            return list(self.uow.session.scalars(
                select(TicketComment).where(TicketComment.ticket_id == int(ticket_id)).order_by(TicketComment.id)))
