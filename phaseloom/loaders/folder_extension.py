"""``phaseloom:`` in a Hephaestus folder's ``phases_config.yaml``: what Hephaestus has no key for.

``phaseloom workflow export --format hephaestus`` writes it so that loading the folder gives back
the same workflow; Hephaestus ignores the block.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EXTENSION_KEY = "phaseloom"


class FolderExtension(BaseModel):
    """``phaseloom:`` in ``phases_config.yaml``: mode, board columns, every setting, the launch template."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["structured", "free_form"] = "free_form"
    settings: dict[str, Any] | None = None
    board_columns: list[Any] = Field(default_factory=list)
    launch_template: dict[str, Any] | None = None


def apply_extension(document: dict[str, Any], extension: FolderExtension) -> set[str]:
    """Put the ``phaseloom:`` block's keys into the document; the keys it set."""
    document["mode"] = extension.mode
    extended = {"mode"}
    if extension.settings is not None:
        document["settings"] = extension.settings
        extended.add("settings")
    if extension.board_columns:
        document["board_columns"] = extension.board_columns
        extended.add("board_columns")
    if extension.launch_template is not None:
        document["launch_template"] = extension.launch_template
        extended.add("launch_template")
    return extended
