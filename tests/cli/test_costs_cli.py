"""``phaseloom costs``, ``budget`` and ``stats`` as a user runs them: real subprocesses, SQLite file."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from phaseloom.config import ModelPrice, Settings
from phaseloom.db.engine import Database
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.costs import CostRecord
from phaseloom.services.costs import CostService
from phaseloom.db.unit_of_work import UnitOfWork
from tests.cli.support import run


def test_costs_by_group_and_window_budgets_and_stats(tmp_path):
    run(tmp_path, "init")
    run(tmp_path, "project", "create", "demo")
    run(tmp_path, "ticket", "create", "demo", "Add login")
    run(tmp_path, "task", "create", "1", "PHASE_REQUIREMENTS", "requirements")
    run(tmp_path, "task", "create", "1", "PHASE_DESIGN", "design")
    db = Database.connect(f"sqlite:///{tmp_path}/p.db")
    costs = CostService(UnitOfWork(db), Settings(pricing={"default": ModelPrice(input_per_million=1.0),
                                                          "big": ModelPrice(input_per_million=10.0)}))
    costs.record_usage(1, None, "big", 100_000, 0)       # 1.0 in requirements
    costs.record_usage(2, None, "small", 2_000_000, 0)   # 2.0 in design
    old = costs.record_usage(2, None, "big", 1_000_000, 0)  # 10.0 in design, 3 days ago
    with UnitOfWork(db) as uow:
        uow.session.execute(update(CostRecord).where(CostRecord.id == old.id)
                            .values(created_at=utcnow() - timedelta(days=3)))
    db.dispose()

    by_phase = json.loads(run(tmp_path, "costs", "--json").stdout)
    assert [(g["key"], g["amount"]) for g in by_phase] == [("PHASE_DESIGN", 12.0), ("PHASE_REQUIREMENTS", 1.0)]
    recent = json.loads(run(tmp_path, "costs", "--by", "model", "--since", "24h", "--json").stdout)
    assert {g["key"]: g["amount"] for g in recent} == {"small": 2.0, "big": 1.0}
    table = run(tmp_path, "costs", "--by", "phase", "--since", "2d").stdout
    assert "PHASE_DESIGN" in table and "2.0000 USD" in table and "total: 3.0000 USD" in table

    added = run(tmp_path, "budget", "add", "ticket", "5", "--ticket", "1").stdout
    assert "spent 13.0000 USD" in added and "EXHAUSTED" in added
    raised = run(tmp_path, "budget", "set", "1", "--limit", "50").stdout
    assert "EXHAUSTED" not in raised and "of 50.0000 USD" in raised
    assert "ticket" in run(tmp_path, "budget", "list").stdout

    report = json.loads(run(tmp_path, "stats", "--project", "demo", "--json").stdout)
    depth = {p["phase_id"]: p["queue_depth"] for p in report["phases"]}
    assert depth["PHASE_REQUIREMENTS"] == 1 and depth["PHASE_DESIGN"] == 1
    assert report["bottleneck"] in ("PHASE_REQUIREMENTS", "PHASE_DESIGN")
    assert "bottleneck:" in run(tmp_path, "stats").stdout

    bad = run(tmp_path, "costs", "--by", "colour", check=False)
    assert bad.returncode == 2 and "cannot group costs by 'colour'" in bad.stderr
    wrong = run(tmp_path, "costs", "--since", "yesterday", check=False)
    assert wrong.returncode == 2 and "neither a duration" in wrong.stderr
