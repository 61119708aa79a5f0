"""README.md stays true to the code it documents."""

from __future__ import annotations

from pathlib import Path

from phaseloom.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_configuration_table():
    missing = [name for name in Settings.model_fields if f"`PHASELOOM_{name.upper()}`" not in README]
    assert missing == []


def test_the_quick_start_has_the_install_and_the_test_command_of_ci():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    test_command = "pip install torch==2.13.0 && pip install -e '.[test,memory]' && python -m pytest"
    assert test_command in README and test_command in ci
    assert "pip install -e . && phaseloom demo" in README
