import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from sqlalchemy import update

from phaseloom.config import Settings
from phaseloom.db.models import SystemEvent, Task
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.guardian import SteeringNote
from phaseloom.services.agents import AgentService
from phaseloom.services.dashboard import DashboardService
from phaseloom.services.diagnostics import DiagnosticsService
from phaseloom.judges import LlmJudge
from phaseloom.services.guardian import GuardianRecords, GuardianService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from tests.runtimes.test_openai import model_server  # noqa: F401 - the loopback chat-completions server

NO_JUDGE = Settings(guardian_judge_base_url="", guardian_judge_model="")


@pytest.fixture
def running(uow, project):
    """A task running for its agent; returns (task, started_at)."""
    ticket = TicketService(uow).create_ticket(project.id, "Add a greeting")
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_IMPLEMENTATION", "Write greet()")
    agent = AgentService(uow).register_agent("runner", agent_id="runner-1")
    queue.claim_next_task(agent.id)
    queue.start_task(task.id, agent.id)
    with uow:
        started = uow.session.get(Task, task.id).started_at
    return task, started.replace(tzinfo=started.tzinfo or utcnow().tzinfo)


def guardian(uow, tmp_path, judge=None):
    return GuardianService(uow, settings=NO_JUDGE, log_dir=tmp_path, judge=judge)


def diagnoses(uow, ticket_id):
    return DiagnosticsService(uow).list(ticket_id=ticket_id)


def test_a_stuck_agent_scores_low_gets_one_note_per_cooldown_and_one_diagnostic(uow, running, tmp_path):
    task, started = running
    at = started + timedelta(seconds=1000)
    first = guardian(uow, tmp_path).assess_running(now=at)
    assert [(a.task_id, a.agent_id, a.intervention, a.judge) for a in first] == [
        (task.id, "runner-1", "steer", "rules")]
    assert first[0].score == 0.5
    assert any(r.startswith("no progress for 1000 s") for r in first[0].reasons)
    assert any("LLM judge not configured" in r for r in first[0].reasons)
    # A fresh service (as after a restart) still honours the stored five-minute limit.
    second = guardian(uow, tmp_path).assess_running(now=at + timedelta(seconds=60))
    assert second[0].intervention == "none"
    assert len(GuardianRecords(uow).notes("runner-1")) == 1
    assert diagnoses(uow, task.ticket_id) == []
    third = guardian(uow, tmp_path).assess_running(now=at + timedelta(seconds=120))
    assert third[0].intervention == "diagnose"
    fourth = guardian(uow, tmp_path).assess_running(now=at + timedelta(seconds=400))
    assert fourth[0].intervention == "steer"  # note cooldown over; one diagnosis per misaligned streak
    [diagnosis] = diagnoses(uow, task.ticket_id)
    assert (diagnosis.trigger, diagnosis.inferred_from, diagnosis.inferred_phase_id) == (
        "agent_misaligned", "guardian", "PHASE_IMPLEMENTATION")
    assert diagnosis.evidence[0] == (f"agent runner-1 on task {task.id} (PHASE_IMPLEMENTATION) was misaligned "
                                     "3 times in a row (latest score 0.50)")
    assert any(e.startswith("no progress for 1120 s") for e in diagnosis.evidence)
    [recovery_id] = diagnosis.recovery_task_ids
    recovery = QueueService(uow).get(recovery_id)
    assert (recovery.status, recovery.priority, recovery.phase_id) == ("pending", "HIGH", "PHASE_IMPLEMENTATION")
    assert f"Recover ticket {task.ticket_id}" in recovery.description
    assert f"diagnosis {diagnosis.id} recorded; recovery task(s) {recovery_id} queued" in third[0].reasons[-1]
    assert len(GuardianRecords(uow).notes("runner-1")) == 2
    assert [a.intervention for a in GuardianRecords(uow).assessments(ticket_id=task.ticket_id)] == [
        "steer", "diagnose", "none", "steer"]
    with uow:
        task_row = uow.session.get(Task, task.id)
        assert task_row.status == "running"  # the Guardian never stops an agent
    page = DashboardService(uow).ticket_page(task.ticket_id)
    assert [g["intervention"] for g in page["guardian"]] == ["steer", "diagnose", "none", "steer"]
    assert page["guardian"][0]["reasons"][0].startswith("no progress")


def test_young_agents_are_left_alone(uow, running, tmp_path):
    task, started = running
    assert guardian(uow, tmp_path).assess_running(now=started + timedelta(seconds=60)) == []
    assert GuardianRecords(uow).assessments(task_id=task.id) == []
    assert GuardianRecords(uow).notes("runner-1") == []


def test_log_output_is_progress(uow, running, tmp_path):
    task, started = running
    at = started + timedelta(seconds=1000)
    log = tmp_path / f"task-{task.id}.log"
    log.write_text("running tests...\n")
    os.utime(log, ((at - timedelta(seconds=20)).timestamp(),) * 2)
    [assessment] = guardian(uow, tmp_path).assess_running(now=at)
    assert assessment.score == 1.0 and assessment.intervention == "none"


def test_denied_tools_and_repeated_failures_lower_the_score(uow, running, tmp_path):
    task, started = running
    with uow:
        for _ in range(2):
            uow.emit("task.failed", "task", task.id, ticket_id=task.ticket_id, payload={"error": "ImportError: x"})
        uow.emit("mcp.tool_denied", "agent", "runner-1", payload={"tool": "change_ticket_status"})
    [assessment] = guardian(uow, tmp_path).assess_running(now=utcnow() + timedelta(seconds=150))
    assert assessment.score == pytest.approx(0.65)
    assert any("the same failure 2 times" in r for r in assessment.reasons)
    assert any("change_ticket_status" in r for r in assessment.reasons)
    with uow:
        kinds = list(uow.session.scalars(
            select(SystemEvent.event_type).where(SystemEvent.event_type.like("guardian.%"))))
    assert kinds == ["guardian.assessed"]  # 0.65 is above the 0.6 threshold: no intervention
    assert assessment.intervention == "none"


def _judge(server):
    return LlmJudge(f"http://127.0.0.1:{server.server_port}/v1", "tiny", api_key="sk-test")


def test_the_llm_judge_is_blended_in(uow, running, tmp_path, model_server):  # noqa: F811
    task, started = running
    model_server.replies.append({"choices": [{"message": {"role": "assistant",
                                                          "content": '{"score": 0.9, "reason": "on track"}'}}]})
    [assessment] = guardian(uow, tmp_path, _judge(model_server)).assess_running(now=started + timedelta(seconds=1000))
    assert assessment.judge == "rules+llm"
    assert assessment.score == pytest.approx(0.7)  # (0.5 rules + 0.9 judge) / 2
    assert "LLM judge scored 0.90: on track" in assessment.reasons
    request = model_server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert "PHASE_IMPLEMENTATION" in request["body"]["messages"][1]["content"]


def test_a_failing_judge_is_reported_not_hidden(uow, running, tmp_path, model_server):  # noqa: F811
    task, started = running  # no replies queued: the server answers 500
    [assessment] = guardian(uow, tmp_path, _judge(model_server)).assess_running(now=started + timedelta(seconds=1000))
    assert assessment.judge == "rules" and assessment.score == 0.5
    assert any(r.startswith("LLM judge failed (judge endpoint answered 500") for r in assessment.reasons)


def test_notes_are_delivered_once(uow, running, tmp_path):
    task, started = running
    guardian(uow, tmp_path).assess_running(now=started + timedelta(seconds=1000))
    delivered = GuardianRecords(uow).deliver_notes("runner-1")
    assert len(delivered) == 1 and "drifted" in delivered[0]
    assert GuardianRecords(uow).deliver_notes("runner-1") == []
    with uow:
        assert uow.session.scalar(select(SteeringNote.delivered_at)) is not None


def test_a_second_streak_within_the_cooldown_is_not_diagnosed_again(uow, running, tmp_path):
    task, started = running
    at = started + timedelta(seconds=1000)
    rounds = [guardian(uow, tmp_path).assess_running(now=at + timedelta(seconds=s))[0] for s in (0, 60, 120)]
    assert [a.intervention for a in rounds] == ["steer", "none", "diagnose"]
    [diagnosis] = diagnoses(uow, task.ticket_id)
    fixer = AgentService(uow).register_agent("fixer", agent_id="fixer-1")  # the recovery task gets done
    queue = QueueService(uow)
    assert queue.claim_next_task(fixer.id).id == diagnosis.recovery_task_ids[0]
    queue.start_task(diagnosis.recovery_task_ids[0], fixer.id)
    queue.complete_task(diagnosis.recovery_task_ids[0], fixer.id, {"summary": "clarified the phase prompt"})

    log = tmp_path / f"task-{task.id}.log"  # the agent makes progress: the streak ends
    log.write_text("working again\n")
    aligned_at = at + timedelta(seconds=200)
    os.utime(log, (aligned_at.timestamp(),) * 2)
    assert guardian(uow, tmp_path).assess_running(now=aligned_at)[0].score == 1.0

    # ... and stalls again: a second streak of three, 20 minutes after the diagnosis.
    again = [guardian(uow, tmp_path).assess_running(now=aligned_at + timedelta(seconds=s))[0]
             for s in (700, 760, 1320)]
    assert [a.score for a in again] == [0.5, 0.5, 0.5]
    assert [a.intervention for a in again] == ["steer", "none", "steer"]  # no second diagnosis: the cooldown
    assert again[2].reasons[-1].startswith("diagnosis held back by the diagnostics guards: diagnosed 1400s ago; "
                                           "cooldown is 3600s")
    assert len(diagnoses(uow, task.ticket_id)) == 1


def test_the_guardians_own_diagnosis_is_not_the_agents_progress(uow, running, tmp_path):
    task, _ = running
    with uow:  # the run began 1000 s ago, so the rounds happen now, among the diagnosis's own events
        earlier = utcnow() - timedelta(seconds=1000)
        uow.session.execute(update(Task).where(Task.id == task.id).values(started_at=earlier))
        uow.session.execute(update(SystemEvent).values(created_at=earlier))
    now = utcnow()
    rounds = [guardian(uow, tmp_path).assess_running(now=now + timedelta(seconds=s))[0] for s in (0, 60, 120, 400)]
    assert [a.intervention for a in rounds] == ["steer", "none", "diagnose", "steer"]
    assert rounds[3].score == 0.5 and rounds[3].reasons[0].startswith("no progress for 1400 s")
