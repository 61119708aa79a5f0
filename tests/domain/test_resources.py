from types import SimpleNamespace

from phaseloom.domain.resources import ResourceUsage, from_rusage

RUSAGE = SimpleNamespace(ru_utime=1.25, ru_stime=0.5, ru_maxrss=204800)


def test_linux_reports_maxrss_in_kib_and_macos_in_bytes():
    assert from_rusage(RUSAGE, "linux") == ResourceUsage(1.75, 204800)
    assert from_rusage(RUSAGE, "darwin") == ResourceUsage(1.75, 200)


def test_an_unknown_unit_is_recorded_as_unknown_not_guessed():
    usage = from_rusage(RUSAGE, "sunos5")
    assert usage.cpu_seconds == 1.75 and usage.peak_memory_kib is None
    assert "ru_maxrss on sunos5" in usage.unmeasured_reason
