"""A loopback stand-in for LLM providers, speaking each provider's real wire protocol (streaming included).

The only fake the end-to-end tests allow: the agent CLIs are real, the model behind them is this. A
:class:`Script` says what the "model" does turn by turn (call a tool, write text); the protocol
modules turn a step into the provider's own response shape:

- ``anthropic.py``  — Anthropic Messages (``POST /v1/messages``, SSE when ``stream: true``), for Claude Code
- ``responses.py``  — OpenAI Responses (``POST /v1/responses``, SSE), for Codex
- ``chat.py``       — OpenAI Chat Completions (``POST /v1/chat/completions``, SSE), for OpenCode and Aider

A step is chosen by the conversation, not by a counter: the n-th model turn of a conversation gets
step n, so retries and side requests (titles, summaries) never shift the script.
"""

from __future__ import annotations

from tests.runtimes.fake_models.script import Reply, Script, Step, Turn
from tests.runtimes.fake_models.server import FakeModelServer, Recorded

__all__ = ["FakeModelServer", "Recorded", "Reply", "Script", "Step", "Turn"]
