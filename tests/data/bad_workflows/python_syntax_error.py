from phaseloom import Phase, Workflow

done = Phase(id="PHASE_DONE", is_terminal=True
workflow = Workflow(name="x", phases=[done])
