"""A writer process for the SQLite contention test: ``python -m tests.faults.sqlite_writer URL NAME ROUNDS``.

Each round creates a ticket and a task, claims a task (any writer's), completes it and moves the
ticket; it also mixes in read-only units that then write (the reader-upgrades-to-writer case).
It prints one line ``ok <claims>`` or the error, and exits 0 only if every round succeeded.
"""

from __future__ import annotations

import sys
import traceback

from phaseloom.db.engine import Database
from phaseloom.db.models import Agent, Ticket
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork


def main(url: str, name: str, rounds: int) -> int:
    db = Database.connect(url)
    with UnitOfWork(db) as uow:
        uow.session.add(Agent(id=name, name=name, capabilities=[]))
    claims = 0
    try:
        for n in range(rounds):
            uow = UnitOfWork(db)
            ticket = TicketService(uow).create_ticket("p", f"{name} {n}")
            QueueService(uow).create_task(ticket.id, "PHASE_TODO", f"{name} task {n}")
            task = QueueService(uow).claim_next_task(name)
            if task is not None:
                claims += 1
                QueueService(uow).complete_task(task.id, name, {"by": name})
            with UnitOfWork(db, readonly=True) as reader:
                phase = reader.session.get(Ticket, ticket.id).phase_id
            if phase == "PHASE_TODO":  # the write after a read that a deferred transaction would fail
                TicketService(UnitOfWork(db)).transition(ticket.id, "PHASE_DOING", initiated_by=name)
                TicketService(UnitOfWork(db)).transition(ticket.id, "PHASE_DONE", initiated_by=name)
    except Exception:  # noqa: BLE001 - report anything, the test decides
        print(f"error after {claims} claims: {traceback.format_exc()}", flush=True)
        return 1
    print(f"ok {claims}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
