"""OpenAI Responses (``POST /v1/responses``) as Codex CLI uses it: ``stream: true`` answered with SSE events.

A model turn is one response: ``response.created``, then per output item ``response.output_item.added``,
its deltas (``response.output_text.delta``, ``response.function_call_arguments.delta`` or
``response.custom_tool_call_input.delta``), ``response.output_item.done`` with the whole item, and
``response.completed`` carrying ``usage``. Codex sends the whole conversation every time (``store:
false``), so the step is the number of model turns already in ``body["input"]``: runs of items the
model produced (assistant messages, reasoning, tool calls), each run ended by what the client added.

Tools come as ``function`` tools (JSON ``arguments``), ``custom`` tools (freeform ``input``, Codex's
``apply_patch``) and ``namespace`` groups (MCP servers: ``mcp__phaseloom__`` holding ``get_my_task``…).
A step names them as offered, flattened: a namespaced tool is ``<namespace><name>``, so the glob
``*get_my_task`` finds it. A step calling a custom tool passes its text as ``args["input"]``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.runtimes.fake_models.script import Reply, Script, Step, Turn
from tests.runtimes.fake_models.server import sse

MODEL_ITEM_TYPES = {"function_call", "custom_tool_call", "reasoning", "local_shell_call", "web_search_call",
                    "tool_search_call"}
TOOL_OUTPUT_TYPES = {"function_call_output", "custom_tool_call_output", "local_shell_call_output"}
_ids = itertools.count(1)


@dataclass(frozen=True)
class OfferedTool:
    """A tool as the step names it (``full_name``) and as the reply must call it (``name``, ``namespace``)."""

    full_name: str
    name: str
    kind: str                   # "function" or "custom"
    namespace: str | None = None


def rate_limited(retry_after: int = 1, message: str = "Rate limit reached for requests") -> Reply:
    """The 429 the OpenAI API answers with, ``retry-after`` included."""
    return Reply(429, {"error": {"message": message, "type": "requests", "param": None,
                                 "code": "rate_limit_exceeded"}},
                 {"retry-after": str(retry_after), "x-ratelimit-reset-requests": f"{retry_after}s"})


def unauthorized() -> Reply:
    return Reply(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                 "param": None, "code": "invalid_api_key"}})


def offered_tools(body: dict[str, Any]) -> list[OfferedTool]:
    """The request's tools plus those a ``tool_search`` revealed earlier in the conversation."""
    revealed = [tool for item in _input_items(body) if item.get("type") == "tool_search_output"
                for tool in item.get("tools") or []]
    return [found for tool in [*(body.get("tools") or []), *revealed] for found in _callable(tool)]


def _callable(tool: dict[str, Any], namespace: str | None = None) -> list[OfferedTool]:
    kind, name = tool.get("type"), tool.get("name") or ""
    if kind == "namespace":
        return [found for inner in tool.get("tools") or [] for found in _callable(inner, name)]
    if kind not in ("function", "custom") or not name:
        return []
    full = f"{namespace.rstrip('_')}__{name}" if namespace else name   # Codex's own mcp__server__tool
    return [OfferedTool(full, name, kind, namespace)]


def _searches_tools(body: dict[str, Any]) -> bool:
    """Codex defers MCP tools behind a client-side ``tool_search`` for models that support it."""
    return any(tool.get("type") == "tool_search" for tool in body.get("tools") or [])


def _is_model_item(item: dict[str, Any]) -> bool:
    kind = item.get("type", "message")
    return kind in MODEL_ITEM_TYPES or (kind == "message" and item.get("role") == "assistant")


def steps_taken(items: list[dict[str, Any]]) -> int:
    """How many script steps the conversation already holds: runs of model items, each ended by a
    client item, leaving out the runs that only searched for tools (the fake's own detour)."""
    runs: list[list[str]] = []
    inside = False
    for item in items:
        if _is_model_item(item):
            if not inside:
                runs.append([])
            runs[-1].append(item.get("type", "message"))
            inside = True
        else:
            inside = False
    return sum(1 for run in runs if set(run) - {"tool_search_call", "reasoning"})


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def last_tool_output(items: list[dict[str, Any]]) -> str:
    for item in reversed(items):
        if item.get("type") in TOOL_OUTPUT_TYPES:
            return _text_of(item.get("output"))
    return ""


def system_text(body: dict[str, Any], items: list[dict[str, Any]]) -> str:
    """The instructions plus the developer and environment messages (Codex puts its ``<cwd>`` there)."""
    parts = [body.get("instructions") or ""]
    for item in items:
        text = _text_of(item.get("content")) if item.get("type", "message") == "message" else ""
        if item.get("role") in ("developer", "system") or "<environment_context>" in text:
            parts.append(text)
    return "\n".join(p for p in parts if p)


def _input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    value = body.get("input") or []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return [item for item in value if isinstance(item, dict)]


def respond(body: dict[str, Any], script: Script) -> Reply | Iterator[bytes]:
    items = _input_items(body)
    tools = offered_tools(body)
    if not tools:                       # a side request (a title, a summary): no script step is spent
        return _stream(body, script, [_message("ok")])
    error = script.next_error()
    if error is not None:
        return error
    turn = Turn(index=steps_taken(items), tool_names=[t.full_name for t in tools], system=system_text(body, items),
                last_tool_result=last_tool_output(items), body=body)
    step = script.step(turn.index)
    if step.tool and not _offers(step, turn.tool_names) and _searches_tools(body):
        # As a real model does: look the deferred tool up first; the next request offers it.
        return _stream(body, script, [_tool_search_call(step.tool.strip("*"))])
    return _stream(body, script, _output_for(step, turn, tools))


def _offers(step: Step, names: list[str]) -> bool:
    try:
        step.resolve_tool(names)
    except LookupError:
        return False
    return True


def _output_for(step: Step, turn: Turn, tools: list[OfferedTool]) -> list[dict[str, Any]]:
    output = [_message(step.text)] if step.text else []
    if step.tool:
        chosen = next(t for t in tools if t.full_name == step.resolve_tool(turn.tool_names))
        output.append(_tool_call(chosen, step.resolve_args(turn)))
    return output or [_message("")]


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "id": f"msg_{next(_ids)}", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def _tool_search_call(query: str) -> dict[str, Any]:
    # Codex's client-executed search: ``arguments`` is an object here, not a JSON string.
    return {"type": "tool_search_call", "id": f"ts_{next(_ids)}", "call_id": f"search_{next(_ids)}",
            "execution": "client", "status": "completed", "arguments": {"query": query, "limit": 8}}


def _tool_call(tool: OfferedTool, args: dict[str, Any]) -> dict[str, Any]:
    call_id = f"call_{next(_ids)}"
    if tool.kind == "custom":
        item = {"type": "custom_tool_call", "id": f"ctc_{call_id}", "call_id": call_id, "name": tool.name,
                "input": str(args.get("input", "")), "status": "completed"}
    else:
        item = {"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id, "name": tool.name,
                "arguments": json.dumps(args), "status": "completed"}
    if tool.namespace:
        item["namespace"] = tool.namespace
    return item


def _stream(body: dict[str, Any], script: Script, output: list[dict[str, Any]]) -> Iterator[bytes]:
    response = {"id": f"resp_{next(_ids)}", "object": "response", "created_at": 0, "status": "in_progress",
                "model": body.get("model", "fake-model"), "output": []}
    yield sse("response.created", {"type": "response.created", "response": response})
    yield sse("response.in_progress", {"type": "response.in_progress", "response": response})
    for index, item in enumerate(output):
        yield from _item_events(index, item)
    usage = {"input_tokens": script.input_tokens, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": script.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": script.input_tokens + script.output_tokens}
    done = {**response, "status": "completed", "output": output, "usage": usage}
    yield sse("response.completed", {"type": "response.completed", "response": done})


def _item_events(index: int, item: dict[str, Any]) -> Iterator[bytes]:
    kind = item["type"]
    empty = {**item, "status": "in_progress"}
    if kind == "message":
        empty["content"] = []
    elif kind == "function_call":
        empty["arguments"] = ""
    elif kind == "custom_tool_call":
        empty["input"] = ""
    yield sse("response.output_item.added", {"type": "response.output_item.added", "output_index": index,
                                             "item": empty})
    where = {"item_id": item["id"], "output_index": index}
    if kind == "message":
        text = item["content"][0]["text"]
        part = {"type": "output_text", "text": "", "annotations": []}
        yield sse("response.content_part.added", {"type": "response.content_part.added", **where,
                                                  "content_index": 0, "part": part})
        for piece in _pieces(text):
            yield sse("response.output_text.delta", {"type": "response.output_text.delta", **where,
                                                     "content_index": 0, "delta": piece})
        yield sse("response.output_text.done", {"type": "response.output_text.done", **where,
                                                "content_index": 0, "text": text})
        yield sse("response.content_part.done", {"type": "response.content_part.done", **where,
                                                 "content_index": 0, "part": item["content"][0]})
    elif kind == "function_call":
        for piece in _pieces(item["arguments"]):
            yield sse("response.function_call_arguments.delta",
                      {"type": "response.function_call_arguments.delta", **where, "delta": piece})
        yield sse("response.function_call_arguments.done",
                  {"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]})
    elif kind == "custom_tool_call":
        for piece in _pieces(item["input"]):
            yield sse("response.custom_tool_call_input.delta",
                      {"type": "response.custom_tool_call_input.delta", **where, "delta": piece})
        yield sse("response.custom_tool_call_input.done",
                  {"type": "response.custom_tool_call_input.done", **where, "input": item["input"]})
    yield sse("response.output_item.done", {"type": "response.output_item.done", "output_index": index,
                                            "item": item})


def _pieces(text: str, size: int = 24) -> list[str]:
    """Deltas as a real stream sends them: the text in a few chunks."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def count_tokens(body: dict, script: Script):
    return {"input_tokens": 100}
