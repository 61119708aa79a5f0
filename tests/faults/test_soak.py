"""The soak benchmark, light: 100 tickets through ``bench/soak.py``'s full run and checks, on PostgreSQL.

About 40 s on 2 cores; ``PHASELOOM_SOAK_TICKETS=N`` changes the size.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
TICKETS = int(os.environ.get("PHASELOOM_SOAK_TICKETS", "100"))


def _soak_module():
    spec = importlib.util.spec_from_file_location("bench_soak", ROOT / "bench" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_light_soak_on_postgresql(pg_url):  # pg_url: skips (or fails in CI) without a server
    result = _soak_module().soak("postgresql", TICKETS, workers=2, timeout=240, quiet=True)
    # soak() itself asserts DONE, run-once-plus-retries and the gapless, fully replayed outbox.
    assert result.tickets == TICKETS and result.tasks == 4 * TICKETS
    assert result.retries == 0 and result.events > 30 * TICKETS
    assert 0 < result.claim_p50_ms <= result.claim_p99_ms < 5000
