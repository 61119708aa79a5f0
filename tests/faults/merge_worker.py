"""One task's finish as the executor does it: prepare the worktree, write the work, integrate it.

``python -m tests.faults.merge_worker URL WORKSPACE_ROOT TASK_ID AGENT_ID``; the test kills it mid-merge.
"""

from __future__ import annotations

import sys
from pathlib import Path

from phaseloom.db.engine import Database
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.workspaces import WorkspaceService


def main(url: str, root: str, task_id: int, agent_id: str) -> None:
    service = WorkspaceService(UnitOfWork(Database.connect(url)), root=Path(root))
    ws = service.prepare(task_id, agent_id)
    (ws.path / "feature.py").write_text("def feature():\n    return 42\n")
    outcome = service.integrate(ws, summary="Add feature")
    print(f"merged={outcome.merged} commit={outcome.commit}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
