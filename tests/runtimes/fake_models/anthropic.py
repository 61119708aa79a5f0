"""Anthropic Messages, as Claude Code uses it: ``POST /v1/messages`` (SSE when ``stream: true``) and count_tokens.

A request that offers tools is a model turn: its step is the number of assistant messages the
conversation already holds. A request that offers none is a side request (a title, a summary, a
quota probe) and gets a short text answer without touching the script, so it never shifts the steps
nor eats a scripted error.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from tests.runtimes.fake_models.script import Reply, Script, Turn
from tests.runtimes.fake_models.server import sse

SIDE_ANSWER = "Fake model"
_ids = itertools.count(1)


def rate_limit_error(retry_after_seconds: int = 1) -> Reply:
    """A 429 exactly as the Anthropic API sends it (error JSON and ``retry-after``)."""
    return Reply(429, {"type": "error", "error": {"type": "rate_limit_error",
                                                  "message": "Number of request tokens has exceeded your rate limit"}},
                 {"retry-after": str(retry_after_seconds), "anthropic-ratelimit-requests-remaining": "0"})


def respond(body: dict, script: Script):
    tools = [tool.get("name", "") for tool in body.get("tools") or []]
    if not tools:
        content = [{"type": "text", "text": SIDE_ANSWER}]
        return _answer(body, content, "end_turn", input_tokens=10, output_tokens=2)
    error = script.next_error()
    if error is not None:
        return error
    turn = Turn(index=sum(1 for m in body.get("messages", []) if m.get("role") == "assistant"),
                tool_names=tools, system=_text(body.get("system")),
                last_tool_result=_last_tool_result(body.get("messages", [])), body=body)
    step = script.step(turn.index)
    content: list[dict[str, Any]] = []
    if step.text or not step.tool:
        content.append({"type": "text", "text": step.text or script.final_text})
    if step.tool:
        content.append({"type": "tool_use", "id": f"toolu_fake{next(_ids):06d}",
                        "name": step.resolve_tool(tools), "input": step.resolve_args(turn)})
    return _answer(body, content, "tool_use" if step.tool else "end_turn",
                   input_tokens=script.input_tokens, output_tokens=script.output_tokens)


def count_tokens(body: dict, script: Script):
    return {"input_tokens": script.input_tokens}


def _answer(body: dict, content: list[dict], stop_reason: str, *, input_tokens: int, output_tokens: int):
    message = {"id": f"msg_fake{next(_ids):06d}", "type": "message", "role": "assistant",
               "model": body.get("model") or "claude-fake", "content": content, "stop_reason": stop_reason,
               "stop_sequence": None,
               "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                         "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    return _stream(message) if body.get("stream") else message


def _stream(message: dict) -> Iterator[bytes]:
    """The message as the API streams it: start, one start/delta/stop per block, delta with usage, stop."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield sse("message_start", {"type": "message_start", "message": start})
    yield sse("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block["text"]}
        else:
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        yield sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})
        yield sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield sse("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                "usage": usage})
    yield sse("message_stop", {"type": "message_stop"})


def _text(value: Any) -> str:
    """A system prompt or a tool result's content: a string or a list of blocks, as plain text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(block.get("text", "") for block in value if isinstance(block, dict))
    return ""


def _last_tool_result(messages: list[dict]) -> str:
    for message in reversed(messages):
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            continue
        results = [block for block in content if isinstance(block, dict) and block.get("type") == "tool_result"]
        if results:
            return _text(results[-1].get("content"))
    return ""
