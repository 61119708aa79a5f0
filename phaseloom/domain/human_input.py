"""How a person's answer reaches the agent that asked: the next message of its own session, or, for a
run that cannot resume one, a section of its instructions."""

from __future__ import annotations

from collections.abc import Iterable


def answer_message(question: str, answer: str) -> str:
    """The message a resumed session gets: the answer, with the question it answers."""
    return (f"A person answered the question you asked (ask_human).\n\nYour question: {question}\n\n"
            f"Their answer: {answer}\n\nCarry on with your task from where you stopped, and finish it with "
            "complete_task (or fail_task) as before.")


def with_answers(instructions: str, answered: Iterable[tuple[str, str]]) -> str:
    """``instructions`` with the questions the task's agent asked earlier and their answers appended."""
    pairs = list(answered)
    if not pairs:
        return instructions
    lines = ["", "## Questions you asked and the answers", "",
             "An earlier run of this task asked a person (ask_human); carry on with these answers:", ""]
    for question, answer in pairs:
        lines += [f"- Question: {question}", f"  Answer: {answer}"]
    return instructions.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
