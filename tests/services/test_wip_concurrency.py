"""Two concurrent moves into a column at its WIP limit cannot both succeed."""

from __future__ import annotations

import threading

from phaseloom.domain.errors import WipLimitReached
from phaseloom.schemas.workflow import WorkflowDocument
from phaseloom.services.projects import ProjectService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService

NARROW = WorkflowDocument.model_validate({
    "name": "narrow",
    "phases": [
        {"id": "PHASE_TODO", "sequence_order": 0, "allowed_transitions": ["PHASE_DOING"]},
        {"id": "PHASE_DOING", "sequence_order": 1, "allowed_transitions": ["PHASE_DONE"]},
        {"id": "PHASE_DONE", "sequence_order": 2, "is_terminal": True},
    ],
    "board_columns": [
        {"id": "todo", "phase_mapping": ["PHASE_TODO"]},
        {"id": "doing", "phase_mapping": ["PHASE_DOING"], "wip_limit": 1},
        {"id": "done", "phase_mapping": ["PHASE_DONE"]},
    ],
})


def test_concurrent_moves_never_exceed_the_wip_limit(db):
    WorkflowService(UnitOfWork(db)).save_document(NARROW)
    project = ProjectService(UnitOfWork(db)).create_project("p", "narrow")
    for round_ in range(5):
        ids = [TicketService(UnitOfWork(db)).create_ticket(project.id, f"r{round_}-{i}").id for i in range(4)]
        barrier = threading.Barrier(len(ids))
        outcomes: list[str] = []

        def move(ticket_id: int) -> None:
            barrier.wait()
            try:
                TicketService(UnitOfWork(db)).transition(ticket_id, "PHASE_DOING")
                outcomes.append("moved")
            except WipLimitReached:
                outcomes.append("refused")

        threads = [threading.Thread(target=move, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes) == ["moved", "refused", "refused", "refused"]
        doing = [t for t in TicketService(UnitOfWork(db)).list(project.id) if t.phase_id == "PHASE_DOING"]
        assert len(doing) == 1
        TicketService(UnitOfWork(db)).transition(doing[0].id, "PHASE_DONE")
