"""Bodies of the Needs input routes: an agent's open question, and a person's answer to it."""

from __future__ import annotations

from datetime import datetime

from phaseloom.schemas.api.common import In, Out, Text


class QuestionOut(Out):
    request_id: int
    task_id: int
    ticket_id: int
    ticket_title: str
    phase_id: str
    question: str
    options: list[str]
    asked_by: str
    asked_at: datetime


class TaskAnswer(In):
    answer: Text(20_000, min_length=1)


class AnswerOut(Out):
    task_id: int
    request_id: int
    status: str
    message: str
