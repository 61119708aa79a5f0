"""A small coding agent for soak tests: it reports through phaseloom's MCP server, as a real CLI does.

Run by the ``command`` runtime in its worktree (``--agent-command "python …/mcp_agent.py"``), it
starts ``phaseloom mcp`` over stdio with the token phaseloom gave it, asks ``get_my_task``, writes
``hello.txt`` and calls ``complete_task`` with a summary naming its task. Any failure exits non-zero.
With ``PHASELOOM_FAULT_AGENT_DELAY=S`` it works S seconds between the two calls, its MCP session
open, so a fault test can hit it in the middle of its task; with ``PHASELOOM_FAULT_AGENT_LINGER=S``
it goes on S seconds after its report before it exits, as a CLI writing its last message does.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

DELAY_VARIABLE = "PHASELOOM_FAULT_AGENT_DELAY"
LINGER_VARIABLE = "PHASELOOM_FAULT_AGENT_LINGER"


async def work() -> None:
    # Imported here: the fault workers read DELAY_VARIABLE from this module without the SDK's import time.
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {**os.environ, "PHASELOOM_AGENT_TOKEN": os.environ["PHASELOOM_AGENT_TOKEN"]}
    server = StdioServerParameters(command=sys.executable, args=["-m", "phaseloom.cli.app", "mcp"], env=env)
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        mine = await session.call_tool("get_my_task", {})
        if mine.is_error:
            raise SystemExit(f"get_my_task failed: {mine.content}")
        task = (mine.structured_content or {}).get("task") or {}
        if str(task.get("id")) != os.environ["PHASELOOM_TASK_ID"]:
            raise SystemExit(f"get_my_task gave {json.dumps(task)[:300]}, not task {os.environ['PHASELOOM_TASK_ID']}")
        await asyncio.sleep(float(os.environ.get(DELAY_VARIABLE) or 0))
        Path("hello.txt").write_text(f"hello from task {task['id']}\n")
        done = await session.call_tool("complete_task", {"result": f"wrote hello.txt for task {task['id']}",
                                                         "artifacts": ["hello.txt"]})
        if done.is_error:
            raise SystemExit(f"complete_task failed: {done.content}")
        await asyncio.sleep(float(os.environ.get(LINGER_VARIABLE) or 0))
    print(f"task {task['id']} done")


if __name__ == "__main__":
    asyncio.run(work())
