from phaseloom import Phase

done = Phase(id="PHASE_DONE", is_terminal=True)
