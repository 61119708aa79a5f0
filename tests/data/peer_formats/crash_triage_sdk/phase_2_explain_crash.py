"""
Phase 2: Explain the crash.
"""

from src.sdk import models

PHASE_2_EXPLAIN_CRASH = models.Phase(
    id=2,
    name="explain_crash",
    description="Find the faulty function and explain why it crashes.",
    done_definitions=[
        "Ticket read (via get_ticket)",
        "Faulty function and line named",
        "Result submitted with submit_result",
    ],
    working_directory=".",
    additional_notes="""Read the ticket with mcp__hephaestus__get_ticket(ticket_id).
Search older tickets with search_tickets and old memories with get_memories.
When done: resolve_ticket(ticket_id, resolution_comment="...") and
change_ticket_status(ticket_id, new_status="explained").
Then submit_result(markdown_file_path="./explanation.md", explanation="...").""",
    outputs=["explanation.md"],
    next_steps=["None: this is the last phase"],
)
