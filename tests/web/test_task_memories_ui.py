"""The graph page's task detail lists the memories the task's instructions carried (real browser)."""

from __future__ import annotations

import pytest

from phaseloom.services.instructions import InstructionService
from phaseloom.services.memory import MemoryService
from phaseloom.services.memory_preload import preloaded_memories
from phaseloom.queue import QueueService
from phaseloom.db.unit_of_work import UnitOfWork

pytestmark = pytest.mark.slow


def test_the_task_detail_lists_its_preloaded_memories(page, site):
    server, demo, db = site
    page.goto(f"{server.url}/graph?project=demo")
    page.wait_for_selector("#graph[data-loaded] .node")
    page.click(f".node[data-task-id='{demo.spawned_task}']")
    assert "No memories preloaded" in page.locator("#detail-memories").inner_text()

    uow = UnitOfWork(db)
    task = QueueService(uow).get(demo.running_task)
    saved = MemoryService(uow, embedder=None).save_memory("Testing the login form: run the migrations first",
                                                          "warning", project_id=task.project_id,
                                                          phase_id=task.phase_id)
    InstructionService(uow, memory_semantic=False).build_instructions(demo.running_task)
    page.click(f".node[data-task-id='{demo.running_task}']")
    detail = page.locator("#detail-memories")
    detail.locator("summary").wait_for()
    shown = len(preloaded_memories(uow, demo.running_task))  # the finished tasks' summaries may match too
    assert shown >= 1
    assert detail.locator("summary").inner_text() == f"Preloaded memories ({shown})"
    detail.locator("summary").click()
    item = detail.locator(f"li[data-memory-id='{saved.memory.id}']")
    assert "Testing the login form: run the migrations first" in item.inner_text()
    assert "warning" in item.inner_text()

