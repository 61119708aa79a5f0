"""
Phase 1: Collect evidence for the crash.
"""

from src.sdk.models import Phase, ValidationCriteria

SCRATCH = "notes"

PHASE_1_COLLECT_EVIDENCE = Phase(
    id=1,
    name="collect_evidence",
    description="""Collect logs, the stack trace and the exact inputs of the crash.
Then hand over to Phase 2 with a ticket.""",
    done_definitions=[
        "Stack trace saved to " + SCRATCH + "/trace.txt",
        "Inputs that crash it are listed",
        "A Phase 2 task exists, with the ticket id",
    ],
    working_directory=".",
    additional_notes="""🎯 YOUR MISSION: make the crash happen on demand.

STEP 1: Read the report in your task description.
STEP 2: Run it:
```python
result = run_case({"input": "bad"})   # braces stay as written
```
STEP 3: Save what you learn:
    save_memory(content="crash needs input X", agent_id="[YOUR AGENT ID]", memory_type="discovery")
STEP 4: mcp__hephaestus__create_ticket({"title": "Crash: ...", "agent_id": "[YOUR AGENT ID]"})
STEP 5: create_task(description="Phase 2: explain - TICKET: ...", phase_id=2, agent_id="...")
STEP 6: update_task_status(task_id="...", status="done", summary="...")

Context from the user: {crash_context}
""",
    outputs=[
        f"{SCRATCH}/trace.txt with the full stack trace",
        "A ticket in 'reported'",
    ],
    next_steps=[
        "Phase 2 explains the crash",
        "Phase 2 moves the ticket to 'explained'",
    ],
    validation=ValidationCriteria(
        enabled=True,
        criteria=[
            {"description": "Trace saved", "check_type": "file_exists", "target": ["notes/trace.txt"]},
            {"description": "Trace mentions Traceback", "check_type": "file_contains",
             "target": "notes/trace.txt", "pattern": ["Traceback", "panic"]},
        ],
    ),
    cli_tool="codex",
    cli_model="gpt-5",
)
