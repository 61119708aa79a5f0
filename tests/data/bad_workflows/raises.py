from phaseloom import Phase, Workflow

done = Phase(id="PHASE_DONE", is_terminal=True)
raise RuntimeError("the workflow file gave up")
