"""A workflow defined in Python: load it with ``phaseloom workflow load examples/code_first_workflow.py``.

Phases are plain objects, so a transition can name the phase itself, or its id when the
phase is defined further down (as review → write here).
"""

from phaseloom import BoardColumn, ExpectedOutput, Phase, Workflow

done = Phase(id="PHASE_DONE", name="Done", is_terminal=True)
blocked = Phase(id="PHASE_BLOCKED", name="Blocked", is_terminal=True,
                description="Waiting on something outside the team.")

review = Phase(
    id="PHASE_REVIEW",
    description="Review the change like a careful senior engineer.",
    done_definitions=["Every review comment is resolved or answered"],
    phase_prompt="YOU ARE A REVIEWER.\nRead the diff and the tests. Approve, or send it back with concrete comments.",
    allowed_transitions=[done, blocked, "PHASE_WRITE_CODE"],  # send it back
)
write = Phase(
    id="PHASE_WRITE_CODE",
    description="Implement the ticket with tests.",
    done_definitions=["The change is implemented", "Tests cover it and pass"],
    expected_outputs=[ExpectedOutput(type="code", pattern="src/**/*.py")],
    phase_prompt="YOU ARE AN ENGINEER.\nImplement the ticket. Write the tests first.",
    next_steps_guide=["A reviewer will read the diff."],
    configuration={"timeout_seconds": 3600, "max_retries": 2},
    allowed_transitions=[review, blocked],
)
workflow = Workflow(
    name="code_first_review",
    description="Write code, review it, done: defined in Python.",
    phases=[write, review, done, blocked],
    board_columns=[
        BoardColumn(id="doing", name="Doing", phase_mapping=[write], wip_limit=3),
        BoardColumn(id="review", name="In review", phase_mapping=[review], wip_limit=2),
        BoardColumn(id="done", name="Done", phase_mapping=[done, blocked]),
    ],
)
