"""Phase names as people type them."""

from __future__ import annotations

import pytest

from phaseloom.domain.errors import InvalidInput
from phaseloom.domain.phase_names import resolve_phase_id

PHASES = [("PHASE_DESIGN", "Design"), ("PHASE_IMPLEMENTATION", "Implementation"), ("PHASE_DONE", "Done"),
          ("PHASE_FIND_ROOT_CAUSE", "Find the root cause")]


@pytest.mark.parametrize("typed", ["design", "Design", "PHASE_DESIGN", "phase_design", " DESIGN "])
def test_aliases_name_the_phase(typed):
    assert resolve_phase_id(typed, PHASES) == "PHASE_DESIGN"


def test_multi_word_ids_and_names():
    assert resolve_phase_id("find-root-cause", PHASES) == "PHASE_FIND_ROOT_CAUSE"
    assert resolve_phase_id("Find the root cause", PHASES) == "PHASE_FIND_ROOT_CAUSE"


def test_unknown_lists_valid_ids_and_suggests_the_closest():
    with pytest.raises(InvalidInput) as error:
        resolve_phase_id("implmentation", PHASES)
    assert str(error.value) == ("unknown phase 'implmentation': did you mean PHASE_IMPLEMENTATION? valid phases: "
                                "PHASE_DESIGN, PHASE_IMPLEMENTATION, PHASE_DONE, PHASE_FIND_ROOT_CAUSE")
    with pytest.raises(InvalidInput, match=r"^unknown phase 'zzz': valid phases: PHASE_DESIGN"):
        resolve_phase_id("zzz", PHASES)
