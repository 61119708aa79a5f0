"""The Guardian's optional LLM judge over HTTP: asks an OpenAI-compatible chat-completions endpoint
for a 0–1 score (the :class:`phaseloom.domain.guardian.Judge` the Guardian service calls).

Spoken the same way as :mod:`phaseloom.runtimes.openai` (``POST {base_url}/chat/completions`` with a
bearer key). Any failure — unreachable, a non-200 answer, a reply without a score — raises
:class:`JudgeUnavailable` with a plain-words reason, which the Guardian stores instead of a score.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from phaseloom.config import Settings
from phaseloom.domain.guardian import JudgeUnavailable

_SYSTEM = ("You review the trajectory of an AI coding agent working on one phase of a workflow. Answer with JSON "
           'only: {"score": <0..1, how well the work fits the phase>, "reason": "<one sentence>"}.')
_NUMBER = re.compile(r"(?<![\d.])(0(?:\.\d+)?|1(?:\.0+)?)(?![\d.])")


class LlmJudge:
    """A :class:`~phaseloom.domain.guardian.Judge` asking ``model`` at ``base_url``."""

    def __init__(self, base_url: str, model: str, *, api_key: str = "", timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                   transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings) -> "LlmJudge | None":
        """The configured judge, or None when no endpoint and model are set."""
        if not (settings.guardian_judge_base_url and settings.guardian_judge_model):
            return None
        return cls(settings.guardian_judge_base_url, settings.guardian_judge_model,
                   api_key=settings.guardian_judge_api_key)

    def score(self, context: str) -> tuple[float, str]:
        """The judge's score (0–1) and its one-sentence reason for the trajectory in ``context``."""
        try:
            response = self.client.post("/chat/completions", json={
                "model": self.model, "temperature": 0,
                "messages": [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": context}]})
        except httpx.HTTPError as exc:
            raise JudgeUnavailable(f"cannot reach the judge endpoint: {exc}") from exc
        if response.status_code != 200:
            raise JudgeUnavailable(f"judge endpoint answered {response.status_code}: {response.text[:200]}")
        try:
            content = response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise JudgeUnavailable("judge reply is not a chat completion") from exc
        return parse_verdict(content)


def parse_verdict(content: str) -> tuple[float, str]:
    """Read ``{"score": x, "reason": ...}``, tolerating prose around it or a bare number."""
    start, end = content.find("{"), content.rfind("}")
    if start != -1 and end > start:
        try:
            data: Any = json.loads(content[start:end + 1])
            value = float(data["score"])
            if 0.0 <= value <= 1.0:
                return value, str(data.get("reason", ""))[:300]
        except (ValueError, KeyError, TypeError):
            pass
    found = _NUMBER.search(content)
    if found is None:
        raise JudgeUnavailable(f"judge reply holds no score between 0 and 1: {content[:120]!r}")
    return float(found.group(1)), ""
