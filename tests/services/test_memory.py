"""Memory: saving, near-duplicates, keyword/semantic/hybrid search on both backends."""

from __future__ import annotations

import pytest

from phaseloom.config import Settings
from phaseloom.domain.errors import InvalidInput
from phaseloom.embeddings import embedding_available, shared_embedder
from phaseloom.services.memory import MemoryService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.search import MemoryFilter, VectorIndex

needs_model = pytest.mark.skipif(not embedding_available(), reason="phaseloom[memory] (embedding model) not installed")


@pytest.fixture
def keyword_only(uow):
    return MemoryService(uow, embedder=None, index=VectorIndex())


@pytest.fixture
def semantic(uow):
    return MemoryService(uow, embedder=shared_embedder(), index=VectorIndex())


def test_keyword_search_finds_by_words_and_filters(keyword_only, project):
    keyword_only.save_memory("Fixed RedisTimeoutError by raising socket_timeout", "error_fix",
                             project_id=project.id, phase_id="PHASE_IMPLEMENTATION")
    keyword_only.save_memory("Decided to store sessions in PostgreSQL", "decision", project_id=project.id,
                             phase_id="PHASE_DESIGN")
    hits = keyword_only.search("redis timeout", project_id=project.id)
    assert [h.memory.memory_type for h in hits] == ["error_fix"]
    assert hits[0].keyword_rank == 1 and hits[0].semantic_rank is None
    assert keyword_only.search("redis timeout", project_id=project.id, phase_id="PHASE_DESIGN") == []
    assert keyword_only.search("sessions", project_id=project.id, memory_type="decision")[0].memory.phase_id == \
        "PHASE_DESIGN"


def test_memory_from_a_task_takes_its_ticket_and_phase(keyword_only, uow, project):
    ticket = TicketService(uow).create_ticket(project.id, "t")
    task = QueueService(uow).create_task(ticket.id, "PHASE_TESTING", "run tests")
    saved = keyword_only.save_memory("pytest needs -p no:cacheprovider in CI", "learning", task_id=task.id)
    assert (saved.memory.project_id, saved.memory.ticket_id, saved.memory.phase_id) == (
        project.id, ticket.id, "PHASE_TESTING")


def test_bad_input_is_refused(keyword_only, project):
    with pytest.raises(InvalidInput, match="unknown memory type"):
        keyword_only.save_memory("x", "gossip", project_id=project.id)
    with pytest.raises(InvalidInput, match="needs content"):
        keyword_only.save_memory("  ", "learning", project_id=project.id)
    with pytest.raises(InvalidInput, match="needs a project"):
        keyword_only.save_memory("x", "learning")


@needs_model
def test_near_duplicate_updates_instead_of_copying(semantic, project):
    first = semantic.save_memory("The CSV export fails on non-ASCII names; encode as UTF-8.", "error_fix",
                                 project_id=project.id)
    again = semantic.save_memory("The CSV export fails on non-ASCII names; encode as UTF-8!", "error_fix",
                                 project_id=project.id)
    assert (first.action, again.action) == ("created", "merged")
    assert again.memory.id == first.memory.id and again.memory.times_seen == 2
    other = semantic.save_memory("Use a read replica for the reporting dashboard queries.", "decision",
                                 project_id=project.id)
    assert other.action == "created"


@needs_model
def test_a_merged_memory_is_searched_by_its_new_wording(semantic, project):
    first = semantic.save_memory("The CSV export fails on non-ASCII names; encode as UTF-8.", "error_fix",
                                 project_id=project.id)
    wording = "The CSV export fails on non-ASCII names; encode it as UTF-8!"
    merged = semantic.save_memory(wording, "error_fix", project_id=project.id)
    assert merged.memory.id == first.memory.id
    vector = semantic.embedder.embed([wording])[0]
    assert semantic.embedding_of(semantic.get(first.memory.id)) @ vector == pytest.approx(1.0, abs=1e-5)
    in_project = MemoryFilter(project_id=project.id)
    assert semantic.semantic_ranking_for_vector(vector, in_project, 1) == [first.memory.id]  # syncs the index
    assert semantic.index.search(vector, in_project, 1)[0][1] == pytest.approx(1.0, abs=1e-5)


@needs_model
def test_semantic_search_matches_meaning_without_shared_words(semantic, project):
    semantic.save_memory("Login page broke because the CSRF cookie was not sent by Safari", "error_fix",
                         project_id=project.id)
    semantic.save_memory("Invoice totals are rounded half-even to the cent", "decision", project_id=project.id)
    hits = semantic.search("sign-in form rejected on Apple's browser", project_id=project.id, mode="semantic")
    assert "CSRF" in hits[0].memory.content


@needs_model
def test_a_deferred_memory_is_found_by_meaning_after_newer_ones_were_indexed(semantic, project):
    deferred = semantic.save_memory("Login page broke because the CSRF cookie was not sent by Safari", "error_fix",
                                    project_id=project.id, defer_embedding=True)
    semantic.save_memory("Invoice totals are rounded half-even to the cent", "decision", project_id=project.id)
    # Its near-duplicate check loads the invoice memory into the index, past the deferred one's id.
    semantic.save_memory("Use a read replica for the reporting dashboard queries", "decision", project_id=project.id)
    hits = semantic.search("sign-in form rejected on Apple's browser", project_id=project.id, mode="semantic")
    assert hits[0].memory.id == deferred.memory.id


@needs_model
def test_memories_for_task_preloads_its_phase_first_within_budget(semantic, uow, project):
    ticket = TicketService(uow).create_ticket(project.id, "Add login")
    task = QueueService(uow).create_task(ticket.id, "PHASE_IMPLEMENTATION", "Implement login form")
    semantic.save_memories([
        {"content": "Login form must debounce submit", "memory_type": "learning", "project_id": project.id,
         "phase_id": "PHASE_IMPLEMENTATION"},
        {"content": "Login requirements were signed off by security", "memory_type": "decision",
         "project_id": project.id, "phase_id": "PHASE_REQUIREMENTS"},
    ])
    hits = semantic.memories_for_task(task.id, limit=20)
    assert hits[0].memory.phase_id == "PHASE_IMPLEMENTATION"
    assert {h.memory.phase_id for h in hits} == {"PHASE_IMPLEMENTATION", "PHASE_REQUIREMENTS"}
    assert semantic.get(hits[0].memory.id).times_used == 1


def test_settled_runs_leave_a_summary_and_an_error_fix(uow, project, tmp_path):
    from datetime import timedelta

    from sqlalchemy import update

    from phaseloom.db.models import Task
    from phaseloom.db.models.base import utcnow
    from phaseloom.runtimes.base import Assignment, RunOutcome, settle
    from phaseloom.services.agents import AgentService

    ticket = TicketService(uow).create_ticket(project.id, "Add login")
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_REQUIREMENTS", "Write requirements", max_retries=2)
    agent = AgentService(uow).register_agent("a1")
    assignment = Assignment(task.id, agent.id, ticket.id, "PHASE_REQUIREMENTS", tmp_path, "", tmp_path / "log")
    queue.claim_next_task(agent.id)
    settle(uow, assignment, RunOutcome(completed=False, error="rate limited by the provider", retryable=True), Settings())
    with uow:
        uow.session.execute(update(Task).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    queue.claim_next_task(agent.id)
    settle(uow, assignment, RunOutcome(completed=True, summary="wrote requirements.md with acceptance criteria"), Settings())
    memories = MemoryService(uow, embedder=None, index=VectorIndex())
    kinds = {h.memory.memory_type: h.memory for h in memories.search("requirements", project_id=project.id)}
    assert kinds["learning"].content == "wrote requirements.md with acceptance criteria"
    assert "rate limited" in kinds["error_fix"].content and kinds["error_fix"].phase_id == "PHASE_REQUIREMENTS"


def test_instructions_preload_project_memories(uow, project):
    from phaseloom.services.instructions import build_instructions

    ticket = TicketService(uow).create_ticket(project.id, "Add login")
    task = QueueService(uow).create_task(ticket.id, "PHASE_IMPLEMENTATION", "Implement login form")
    assert "What other agents learned" not in build_instructions(uow, task.id)
    MemoryService(uow, embedder=None).save_memory("Login form must debounce submit", "learning",
                                                   project_id=project.id, phase_id="PHASE_IMPLEMENTATION")
    text = build_instructions(uow, task.id)
    assert "## What other agents learned" in text
    assert "- [learning, PHASE_IMPLEMENTATION] Login form must debounce submit" in text


@needs_model
def test_instructions_without_semantic_memory_preload_only_memories_sharing_words(semantic, uow, project):
    from phaseloom.services.instructions import InstructionService

    ticket = TicketService(uow).create_ticket(project.id, "Add login")
    task = QueueService(uow).create_task(ticket.id, "PHASE_IMPLEMENTATION", "Implement login form")
    semantic.save_memory("Safari drops the CSRF cookie on sign-in", "error_fix", project_id=project.id)
    assert "What other agents learned" not in InstructionService(uow, memory_semantic=False).build_instructions(task.id)
    assert "Safari drops the CSRF cookie on sign-in" in InstructionService(uow).build_instructions(task.id)
