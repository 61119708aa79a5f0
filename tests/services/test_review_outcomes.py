"""Exhausted reviews: the queue fails the task; the use-cases wired where the app is built block and diagnose."""

from __future__ import annotations

from phaseloom.db.engine import Database
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.domain.reviews import REVIEWS_EXHAUSTED
from phaseloom.queue import QueueService, ValidationService
from phaseloom.services.diagnostics import DiagnosticsService
from phaseloom.services.review_outcomes import block_and_diagnose, wire_review_outcomes
from phaseloom.services.tickets import TicketService
from tests.queue.test_validation import setup, work_once  # noqa: F401 - the fixture


def test_the_app_and_the_cli_wire_the_answer_to_exhausted_reviews(db):
    from phaseloom.api.app import create_app
    from phaseloom.cli.context import CliState

    app_db = Database.connect(db.url)
    create_app(app_db)
    cli_db = CliState(database_url=db.url).database()
    for wired in (app_db, cli_db, wire_review_outcomes(wire_review_outcomes(Database.connect(db.url)))):
        assert wired.reactions[REVIEWS_EXHAUSTED] == [block_and_diagnose]
        wired.dispose()


def test_unwired_the_queue_still_fails_the_task_and_leaves_the_ticket_alone(db, setup):  # noqa: F811
    ticket, worker, validator = setup
    bare = Database.connect(db.url)
    uow = UnitOfWork(bare)
    queue, reviews = QueueService(uow), ValidationService(uow)
    task = queue.create_task(ticket.id, "PHASE_BUILD", "write parser")
    for round_ in (1, 2):
        work_once(queue, task.id, worker, {"round": round_})
        reviews.submit_review(queue.claim_next_task(validator.id).id, validator.id, False, f"wrong ({round_})")
    assert queue.get(task.id).status == "failed"
    assert TicketService(uow).get(ticket.id).phase_id == "PHASE_BUILD"
    assert DiagnosticsService(uow).list(ticket_id=ticket.id) == []
    bare.dispose()
