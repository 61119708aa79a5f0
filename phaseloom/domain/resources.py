"""What one agent process used of the machine: CPU time and peak memory, or why that is unknown.

The ``command`` runtime reaps its agent with ``os.wait4``, which hands back the resource usage of
exactly that child (and of the descendants it waited for). ``ru_maxrss`` is in KiB on Linux and
in bytes on macOS; elsewhere we do not know its unit, so we record nothing rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceUsage:
    """CPU seconds (user + system) and peak resident memory in KiB; None where not measurable.

    ``peak_memory_kib`` is the largest resident set of any single process of the run, not their sum.
    ``unmeasured_reason`` says why a figure is missing.
    """

    cpu_seconds: float | None
    peak_memory_kib: int | None
    unmeasured_reason: str = ""

    @classmethod
    def unmeasured(cls, reason: str) -> ResourceUsage:
        return cls(None, None, reason)


def from_rusage(rusage: Any, platform: str) -> ResourceUsage:
    """Read a ``resource.struct_rusage`` (as ``os.wait4`` returns it) taken on ``platform`` (``sys.platform``)."""
    cpu = float(rusage.ru_utime) + float(rusage.ru_stime)
    if platform.startswith("linux"):
        return ResourceUsage(cpu, int(rusage.ru_maxrss))
    if platform == "darwin":
        return ResourceUsage(cpu, int(rusage.ru_maxrss) // 1024)
    return ResourceUsage(cpu, None, f"the unit of ru_maxrss on {platform} is unknown: peak memory not recorded")
