"""Tool names an imported prompt asks for, checked against what the MCP server offers."""

from __future__ import annotations

from phaseloom.domain.phases import Phase, Workflow
from phaseloom.domain.prompt_tools import missing_tools, tools_named


def test_peer_tool_names_are_found_as_words_and_after_an_mcp_prefix():
    text = ('Use save_memory to document. create_ticket({"title": "x"}) then '
            "mcp__hephaestus__submit_result({...}); mcp__other-server__do_thing()")
    assert tools_named(text) == {"save_memory", "create_ticket", "submit_result", "do_thing"}


def test_prose_and_longer_identifiers_are_not_tool_names():
    assert tools_named("get the tasks, my_get_tasks_helper, get_tasks_count and create tasks") == set()


def test_missing_tools_are_listed_per_phase_in_order():
    workflow = Workflow(name="w", phases=(
        Phase(id="PHASE_B", name="B", sequence_order=2, phase_prompt="call resolve_ticket", is_terminal=True),
        Phase(id="PHASE_A", name="A", sequence_order=1, phase_prompt="get_tasks, then save_memory",
              done_definitions=("search_tickets was used",)),
    ))
    assert missing_tools(workflow, {"save_memory"}) == [
        ("PHASE_A", "get_tasks"), ("PHASE_A", "search_tickets"), ("PHASE_B", "resolve_ticket")]
