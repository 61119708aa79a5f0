"""Judges the Guardian may ask about an agent's trajectory (see :class:`phaseloom.domain.guardian.Judge`).

:class:`LlmJudge` asks an OpenAI-compatible chat-completions endpoint over HTTP.
"""

from phaseloom.domain.guardian import JudgeUnavailable
from phaseloom.judges._http_judge import LlmJudge, parse_verdict

__all__ = ["JudgeUnavailable", "LlmJudge", "parse_verdict"]
