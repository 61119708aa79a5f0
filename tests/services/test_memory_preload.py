"""Preloading: each phase sets how many memories its tasks' instructions carry; which ones is recorded."""

from __future__ import annotations

import re

import pytest

from phaseloom.domain.errors import NotFound, WorkflowInvalid
from phaseloom.loaders.documents import load_workflow_data
from phaseloom.services.instructions import InstructionService
from phaseloom.services.memory import MemoryService
from phaseloom.services.memory_preload import preloaded_memories
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.services.workflows import WorkflowService


def _workflow(preload_doing=None, preload_todo=None) -> dict:
    def config(n):
        return {} if n is None else {"configuration": {"memory_preload": n}}

    return {"name": "preload", "phases": [
        {"id": "PHASE_TODO", "sequence_order": 0, "allowed_transitions": ["PHASE_DOING"], **config(preload_todo)},
        {"id": "PHASE_DOING", "sequence_order": 1, "allowed_transitions": ["PHASE_DONE"], **config(preload_doing)},
        {"id": "PHASE_DONE", "sequence_order": 2, "is_terminal": True}]}


@pytest.fixture
def setup(uow):
    """A project on a workflow whose DOING phase preloads 3, TODO the default; 8 memories per phase."""
    WorkflowService(uow).save_document(load_workflow_data(_workflow(preload_doing=3)))
    project = ProjectService(uow).create_project("pre", "preload")
    ticket = TicketService(uow).create_ticket(project.id, "Speed up the upload")
    memories = MemoryService(uow, embedder=None)
    for phase in ("PHASE_TODO", "PHASE_DOING"):
        memories.save_memories([{"content": f"upload note {i} for {phase}: retry uploads with backoff",
                                 "memory_type": "learning", "project_id": project.id, "phase_id": phase}
                                for i in range(12)])
    queue = QueueService(uow)
    doing = queue.create_task(ticket.id, "PHASE_DOING", "Retry the upload", description="uploads fail")
    todo = queue.create_task(ticket.id, "PHASE_TODO", "Plan the upload retry", description="uploads fail")
    return uow, doing, todo


def _shown_ids(text: str, uow) -> list[int]:
    """The memories in the instructions' memory section, by their (unique) content."""
    section = text.split("## What other agents learned", 1)[1] if "## What other agents learned" in text else ""
    contents = [line[line.index("] ") + 2:] for line in section.strip().splitlines() if line.startswith("- [")]
    with uow:
        from sqlalchemy import select

        from phaseloom.db.models import TaskMemory

        by_content = {m.content: m.id for m in uow.session.scalars(select(TaskMemory))}
    return [by_content[c] for c in contents]


def test_the_phase_sets_how_many_and_the_record_matches_what_was_shown(setup):
    uow, doing, todo = setup
    builder = InstructionService(uow, memory_semantic=False)
    doing_text = builder.build_instructions(doing.id)
    shown = _shown_ids(doing_text, uow)
    assert len(shown) == 3
    recorded = preloaded_memories(uow, doing.id)
    assert [m["memory_id"] for m in recorded] == shown and [m["rank"] for m in recorded] == [1, 2, 3]
    assert all(m["phase_id"] == "PHASE_DOING" and "upload note" in m["content"] for m in recorded)
    # TODO sets nothing: the default (20) is asked for, and the 4000-character budget cuts it.
    todo_shown = _shown_ids(builder.build_instructions(todo.id), uow)
    assert 3 < len(todo_shown) <= 20
    assert [m["memory_id"] for m in preloaded_memories(uow, todo.id)] == todo_shown


def test_rebuilding_replaces_the_record_and_zero_preloads_nothing(setup, uow):
    _, doing, _todo = setup
    InstructionService(uow, memory_semantic=False).build_instructions(doing.id)
    assert len(preloaded_memories(uow, doing.id)) == 3
    WorkflowService(uow).save_document(load_workflow_data(_workflow(preload_doing=0)), overwrite=True)
    text = InstructionService(uow, memory_semantic=False).build_instructions(doing.id)
    assert "What other agents learned" not in text
    assert preloaded_memories(uow, doing.id) == []


def test_preloaded_memories_of_a_missing_task_is_not_found(uow):
    with pytest.raises(NotFound):
        preloaded_memories(uow, 999_999)


@pytest.mark.parametrize("value, words", [(-1, "greater than or equal to 0"), (101, "less than or equal to 100"),
                                          ("many", "valid integer")])
def test_a_bad_memory_preload_is_refused_naming_the_field(uow, value, words):
    with pytest.raises(WorkflowInvalid) as refused:
        load_workflow_data(_workflow(preload_todo=value), file="preload.yaml")
    message = str(refused.value)
    assert "phases[0].configuration.memory_preload" in message and words in message
    assert re.search(r"preload\.yaml", message)
