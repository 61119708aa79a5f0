"""``phaseloom merge-queue`` as a user runs it: a real subprocess on a SQLite file, real git."""

from __future__ import annotations

import json

from phaseloom.config import Settings
from phaseloom.db.engine import Database
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.merge_queue import MergeQueueService
from tests.cli.support import run
from tests.services.merge_queue_support import finished_ticket, landing_project


def test_the_listing_in_order_as_json_and_as_a_table_and_by_repository(tmp_path):
    run(tmp_path, "init")
    db = Database.connect(f"sqlite:///{tmp_path}/p.db")
    uow = UnitOfWork(db, settings=Settings(database_url=f"sqlite:///{tmp_path}/p.db", home=tmp_path / ".home"))
    project, repo, _ = landing_project(uow, tmp_path)
    first, _ = finished_ticket(uow, project, repo, {"a.txt": "1\n"}, "raise a")
    second, _ = finished_ticket(uow, project, repo, {"b.txt": "1\n"}, "raise b")

    listed = json.loads(run(tmp_path, "merge-queue", "--json").stdout)
    assert [(e["ticket_id"], e["position"], e["status"], e["branch"], e["into"]) for e in listed] == [
        (first, 1, "queued", f"ticket/{first}", "main"), (second, 2, "queued", f"ticket/{second}", "main")]
    assert listed[0]["repo"] == str(repo.resolve()) and listed[0]["ticket"] == "raise a"
    table = run(tmp_path, "merge-queue").stdout
    assert "raise a" in table and "raise b" in table and "queued" in table
    assert table.index("raise a") < table.index("raise b")

    MergeQueueService(uow, root=tmp_path / "workspaces").step()
    MergeQueueService(uow, root=tmp_path / "workspaces").step()
    db.dispose()
    assert json.loads(run(tmp_path, "merge-queue", "--json", "--repo", str(repo)).stdout) == []
    done = json.loads(run(tmp_path, "merge-queue", "--json", "--finished").stdout)
    assert [(e["ticket_id"], e["status"], e["position"]) for e in done] == [(second, "rejected", None),
                                                                            (first, "landed", None)]
    assert "exited 3" in done[0]["reason"] and done[1]["landed_commit"]
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert run(tmp_path, "merge-queue", "--repo", str(other)).stdout.strip() == f"the merge queue is empty for {other}"
