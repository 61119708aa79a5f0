"""What the use-cases do when a task's work failed every review it was allowed: block its ticket and
diagnose it, in the transaction that failed the task.

The queue (phaseloom/queue/_reviews.py) fails the task and reports
:data:`~phaseloom.domain.reviews.REVIEWS_EXHAUSTED`; :func:`wire_review_outcomes` connects this
answer to a database where the app is built (the API, the CLI, the demo), so the queue never
imports the services that answer it.
"""

from __future__ import annotations

from phaseloom.db.engine import Database
from phaseloom.db.models import Ticket
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain import phases as d
from phaseloom.domain.errors import Conflict
from phaseloom.domain.reviews import REVIEWS_EXHAUSTED, ReviewsExhausted


def block_and_diagnose(uow: UnitOfWork, exhausted: ReviewsExhausted) -> None:
    # Imported when first needed: wiring runs at every start-up, an exhausted review is rare.
    from phaseloom.services.diagnostics import DiagnosticsService
    from phaseloom.services.tickets import TicketService

    ticket = uow.session.get(Ticket, exhausted.ticket_id)
    if ticket.phase_id != d.BLOCKED_PHASE:
        try:
            TicketService(uow).block(exhausted.ticket_id, exhausted.reason[:2000], initiated_by="validation")
        except Conflict:
            pass  # a workflow without a blocked phase: the diagnosis below still records it
    DiagnosticsService(uow).record_diagnosis(exhausted.verdict, phase_id=exhausted.phase_id,
                                             inferred_from="validation")


def wire_review_outcomes(db: Database) -> Database:
    """Make ``db``'s units of work answer exhausted reviews (idempotent); returns ``db``."""
    reactions = db.reactions.setdefault(REVIEWS_EXHAUSTED, [])
    if block_and_diagnose not in reactions:
        reactions.append(block_and_diagnose)
    return db
