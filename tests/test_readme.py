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


def test_the_peer_mapping_tables_name_what_the_loaders_map():
    from phaseloom.loaders.omoios import COLUMN_KEPT_KEYS, OUTPUT_KEPT_KEYS, RESULT_KEYS
    from phaseloom.loaders.phase_folder import CLI_PRESETS

    section = README.split("## Coming from OmoiOS / Hephaestus", 1)[1].split("\n## ", 1)[0]
    for key in (*COLUMN_KEPT_KEYS, *OUTPUT_KEPT_KEYS, *RESULT_KEYS, "evidence_required", "validator_instructions",
                "cli_model", "glm_api_token_env", "continue"):
        assert f"`{key}" in section or f"{key}`" in section, key
    for tool in ("claude", "codex", "opencode", "aider"):
        assert f"`{tool}`" in section and CLI_PRESETS[tool].startswith("command:")


def test_the_peer_section_names_every_peer_tool_and_the_launch_and_export_commands():
    from phaseloom.domain.prompt_tools import PEER_TOOLS

    section = README.split("## Coming from OmoiOS / Hephaestus", 1)[1].split("\n## ", 1)[0]
    for tool in PEER_TOOLS:
        assert f"`{tool}" in section, tool
    for text in ("phaseloom launch WORKFLOW", "phaseloom workflow export NAME", "`select`", "`complete`",
                 "src.sdk.models"):
        assert text in section, text
