import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from phaseloom.config import Settings
from phaseloom.db.models import SystemEvent, Task
from phaseloom.db.models.base import utcnow
from phaseloom.db.models.guardian import SteeringNote
from phaseloom.services.agents import AgentService
from phaseloom.services.dashboard import DashboardService
from phaseloom.services.discovery import DiscoveryService
from phaseloom.services.guardian import GuardianService
from phaseloom.services.guardian_judge import LlmJudge
from phaseloom.services.queue import QueueService
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


def diagnostics(uow, ticket_id):
    return DiscoveryService(uow).list(ticket_id=ticket_id, discovery_type="diagnostic_no_result")


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
    assert len(GuardianService(uow).notes("runner-1")) == 1
    assert diagnostics(uow, task.ticket_id) == []
    third = guardian(uow, tmp_path).assess_running(now=at + timedelta(seconds=120))
    assert third[0].intervention == "diagnose"
    fourth = guardian(uow, tmp_path).assess_running(now=at + timedelta(seconds=400))
    assert fourth[0].intervention == "steer"  # cooldown over; never a second diagnostic
    found = diagnostics(uow, task.ticket_id)
    assert len(found) == 1 and found[0].source_task_id == task.id and "misaligned 3 times" in found[0].description
    assert len(GuardianService(uow).notes("runner-1")) == 2
    assert [a.intervention for a in GuardianService(uow).assessments(ticket_id=task.ticket_id)] == [
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
    assert GuardianService(uow).assessments(task_id=task.id) == []
    assert GuardianService(uow).notes("runner-1") == []


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
    delivered = GuardianService(uow).deliver_notes("runner-1")
    assert len(delivered) == 1 and "drifted" in delivered[0]
    assert GuardianService(uow).deliver_notes("runner-1") == []
    with uow:
        assert uow.session.scalar(select(SteeringNote.delivered_at)) is not None
