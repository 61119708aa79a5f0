"""OpenAI Chat Completions (``POST /v1/chat/completions``), as OpenCode (AI SDK) and Aider (litellm) call it.

A model turn is chosen by the conversation: step n answers a request whose ``messages`` already hold
n assistant turns this fake gave (a tool call, or a step's text). Other assistant messages are the
client's own: Aider opens every conversation with worked examples and "Ok." replies. A step with a tool becomes one ``tool_calls`` entry when the client offered
tools; a request without tools (all of Aider's, which edits through the reply's text) gets the
step's text as the whole reply. With ``stream: true`` the answer is SSE: a role chunk, content or
tool-call deltas (id and name first, the arguments in pieces, as real providers send them), a
chunk with ``finish_reason``, a usage chunk when ``stream_options.include_usage``, then
``data: [DONE]``. Errors queued on the script (a 429) are served first, as the provider would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from tests.runtimes.fake_models.script import Reply, Script, Turn
from tests.runtimes.fake_models.server import sse

MODEL = "fake-model"


def rate_limited(retry_after: int = 1) -> Reply:
    """The 429 OpenAI answers when a rate limit is hit (its error JSON and ``retry-after`` header)."""
    return Reply(429, {"error": {"message": f"Rate limit reached for requests. Please try again in {retry_after}s.",
                                 "type": "requests", "param": None, "code": "rate_limit_exceeded"}},
                 {"retry-after": str(retry_after)})


def unauthorized() -> Reply:
    return Reply(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                 "param": None, "code": "invalid_api_key"}})


def respond(body: dict, script: Script):
    if _is_title_request(body):
        return _answer(body, {"role": "assistant", "content": "Fake session"}, "stop", script)
    error = script.next_error()
    if error is not None:
        return error
    turn = _turn(body, script)
    step = script.step(turn.index)
    message: dict[str, Any] = {"role": "assistant", "content": step.text or None}
    if step.tool and turn.tool_names:
        call = {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                "function": {"name": step.resolve_tool(turn.tool_names),
                             "arguments": json.dumps(step.resolve_args(turn))}}
        message["tool_calls"] = [call]
        return _answer(body, message, "tool_calls", script)
    message["content"] = step.text or script.final_text
    return _answer(body, message, "stop", script)


def count_tokens(body: dict, script: Script):
    return {"input_tokens": script.input_tokens}


# -- reading the request ----------------------------------------------------------------
def _turn(body: dict, script: Script) -> Turn:
    messages = body.get("messages") or []
    said = {text.strip() for text in [script.final_text, *(s.text for s in script.steps)] if text.strip()}
    tools = [t.get("function", {}).get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)]
    system = "\n".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    tool_results = [_text(m.get("content")) for m in messages if m.get("role") == "tool"]
    ours = [m for m in messages if m.get("role") == "assistant"
            and (m.get("tool_calls") or _text(m.get("content")).strip() in said)]
    return Turn(index=len(ours), tool_names=tools,
                system=system, last_tool_result=tool_results[-1] if tool_results else "", body=body)


def _is_title_request(body: dict) -> bool:
    # OpenCode names a new session by a separate, tool-less request; it is no turn of the script and
    # must not take a queued error (OpenCode ignores a failed title, so the error would be lost).
    messages = body.get("messages") or []
    first = messages[0] if messages else {}
    return first.get("role") == "system" and "title generator" in _text(first.get("content"))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


# -- writing the answer -----------------------------------------------------------------
def _usage(script: Script) -> dict[str, Any]:
    return {"prompt_tokens": script.input_tokens, "completion_tokens": script.output_tokens,
            "total_tokens": script.input_tokens + script.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}


def _answer(body: dict, message: dict[str, Any], finish_reason: str, script: Script):
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:16]}"
    if body.get("stream"):
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return _chunks(completion_id, message, finish_reason, _usage(script) if with_usage else None)
    return {"id": completion_id, "object": "chat.completion", "created": 0, "model": body.get("model", MODEL),
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
            "usage": _usage(script)}


def _chunks(completion_id: str, message: dict[str, Any], finish_reason: str,
            usage: dict[str, Any] | None) -> Iterator[bytes]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse(None, {"id": completion_id, "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                          "choices": choices, **extra})

    def delta(value: dict[str, Any], finish: str | None = None) -> bytes:
        return chunk([{"index": 0, "delta": value, "finish_reason": finish}])

    yield delta({"role": "assistant", "content": ""})
    for piece in _pieces(message.get("content") or ""):
        yield delta({"content": piece})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        yield delta({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": function["name"], "arguments": ""}}]})
        for piece in _pieces(function["arguments"]):
            yield delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield delta({}, finish_reason)
    if usage is not None:
        yield chunk([], usage=usage)
    yield b"data: [DONE]\n\n"


def _pieces(text: str, size: int = 24) -> list[str]:
    """``text`` in a few deltas, as a provider streams it (clients must join them)."""
    return [text[i:i + size] for i in range(0, len(text), size)]
