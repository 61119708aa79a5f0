"""What a person may type for a phase: its id in any case, without the ``PHASE_`` prefix, or its name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from phaseloom.domain.errors import InvalidInput


def _key(text: str) -> str:
    key = text.strip().upper().replace("-", "_").replace(" ", "_")
    return key.removeprefix("PHASE_")


def resolve_phase_id(typed: str, phases: Iterable[tuple[str, str]]) -> str:
    """The id of the phase ``typed`` names among ``phases`` (``(id, name)`` pairs).

    ``design``, ``Design`` and ``PHASE_DESIGN`` all name ``PHASE_DESIGN``; an unknown name is an
    :class:`InvalidInput` that lists the valid ids and, when one is close, suggests it.
    """
    phases = list(phases)
    wanted = _key(typed)
    for phase_id, name in phases:
        if wanted in (_key(phase_id), _key(name)):
            return phase_id
    ids = [phase_id for phase_id, _ in phases]
    close = difflib.get_close_matches(wanted, [_key(i) for i in ids], n=1, cutoff=0.6)
    hint = f"did you mean {next(i for i in ids if _key(i) == close[0])}? " if close else ""
    raise InvalidInput(f"unknown phase {typed!r}: {hint}valid phases: {', '.join(ids)}")
