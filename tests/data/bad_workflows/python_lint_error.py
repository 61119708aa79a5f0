from phaseloom import Phase, Workflow

done = Phase(id="PHASE_DONE", is_terminal=True)
start = Phase(id="PHASE_START", allowed_transitions=["PHASE_NOWHERE"])
workflow = Workflow(name="python_lint_error", phases=[start, done])
