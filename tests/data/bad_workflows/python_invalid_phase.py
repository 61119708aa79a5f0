from phaseloom import Phase, Workflow

done = Phase(id="PHASE_DONE", is_terminal=True)
start = Phase(id="PHASE_START", alowed_transitions=[done])
workflow = Workflow(name="python_invalid_phase", phases=[start, done])
