"""A reader polling "events since id N" never skips an event, however writers interleave.

Writers commit in an order different from the order their event ids were assigned (a random
pause sits between inserting the events and committing); the reader must still see every id.
"""

from __future__ import annotations

import random
import threading
import time

from sqlalchemy import event, select

from phaseloom.db.models import SystemEvent
from phaseloom.events import EventLog
from phaseloom.db.unit_of_work import UnitOfWork


def test_polling_reader_sees_every_event_despite_out_of_order_commits(db):
    rng = random.Random(3)

    def pause_before_commit(session):
        time.sleep(rng.uniform(0, 0.01))

    event.listen(db.sessions, "before_commit", pause_before_commit)
    writers_done = threading.Event()
    seen: list[int] = []

    def write(n: int) -> None:
        for i in range(15):
            uow = UnitOfWork(db)
            with uow:
                uow.emit("test.written", "test", f"{n}-{i}")

    def read() -> None:
        last = 0
        while True:
            finished = writers_done.is_set()
            batch = EventLog(UnitOfWork(db, readonly=True)).events_since(last, limit=1000)
            seen.extend(e["id"] for e in batch)
            last = batch[-1]["id"] if batch else last
            if finished and not batch:
                return

    try:
        reader = threading.Thread(target=read)
        writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        reader.start()
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        writers_done.set()
        reader.join(timeout=60)
    finally:
        event.remove(db.sessions, "before_commit", pause_before_commit)
    with db.sessions() as session:
        all_ids = list(session.scalars(select(SystemEvent.id).order_by(SystemEvent.id)))
    assert len(all_ids) == 60
    assert seen == all_ids
