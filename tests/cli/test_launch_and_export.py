"""``phaseloom launch`` and ``phaseloom workflow export``, run as a user runs them."""

from __future__ import annotations

from tests.cli.support import run
from tests.loaders.peer_support import PEER_FORMATS

PACKAGE = PEER_FORMATS / "crash_triage_sdk"


def test_load_a_hephaestus_package_then_launch_it(tmp_path):
    run(tmp_path, "init")
    loaded = run(tmp_path, "workflow", "load", str(PACKAGE)).stdout
    assert "crash_triage_sdk v1: created (3 phases)" in loaded
    form = run(tmp_path, "launch", "crash_triage_sdk", "--project", "p", "--form").stdout
    assert "crash_title" in form and "Critical, High, Low" in form
    refused = run(tmp_path, "launch", "crash_triage_sdk", "--project", "p", "--param", "severity=Meh",
                  "--param", "attempts=x", check=False)
    assert refused.returncode == 2 and "nothing was created" in refused.stderr
    assert "crash_title: required" in refused.stderr and "severity: 'Meh' is not one of the options" in refused.stderr
    assert "attempts: expected a number" in refused.stderr
    assert "p" not in run(tmp_path, "project", "list").stdout.split()
    launched = run(tmp_path, "launch", "crash_triage_sdk", "--project", "p", "--param", "crash_title=Segfault",
                   "--param", "crash_context=seen twice").stdout
    assert "created project p: ticket 1" in launched and "first task 1" in launched
    shown = run(tmp_path, "ticket", "show", "1").stdout
    assert "Phase 1: Collect evidence - Segfault" in shown and "seen twice" in shown


def test_export_a_stored_workflow_in_each_format_and_load_it_back(tmp_path):
    run(tmp_path, "init")
    run(tmp_path, "workflow", "load", str(PACKAGE))
    yaml_text = run(tmp_path, "workflow", "export", "crash_triage_sdk").stdout
    assert yaml_text.startswith("name: crash_triage_sdk") and "launch_template:" in yaml_text
    run(tmp_path, "workflow", "export", "crash_triage_sdk", "--format", "omoios", "--out", "o.yaml")
    run(tmp_path, "workflow", "export", "crash_triage_sdk", "--format", "hephaestus", "--out", "folder")
    for path in ("o.yaml", "folder"):
        # Same content as the stored workflow: loading is a no-op.
        assert "unchanged" in run(tmp_path, "workflow", "load", path).stdout
    again = run(tmp_path, "workflow", "export", "crash_triage_sdk", "-f", "hephaestus", "-o", "folder").stdout
    assert "wrote folder/" in again
    (tmp_path / "folder" / "99_stray.yaml").write_text("description: x\n")
    refused = run(tmp_path, "workflow", "export", "crash_triage_sdk", "-f", "hephaestus", "-o", "folder", check=False)
    assert refused.returncode == 2 and "already holds 99_stray.yaml" in refused.stderr
    bad = run(tmp_path, "workflow", "export", "crash_triage_sdk", "-f", "xml", check=False)
    assert bad.returncode == 2 and "expected one of phaseloom, omoios, hephaestus" in bad.stderr
