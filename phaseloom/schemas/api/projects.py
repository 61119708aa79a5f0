"""Bodies of ``/api/projects``."""

from __future__ import annotations

from phaseloom.schemas.api.common import In, LongText, Out, ShortText, Text


class ProjectCreate(In):
    name: Text(200, min_length=1)
    workflow: ShortText = "software_development"
    description: LongText = ""
    repo_path: Text(4000) = ""


class ProjectOut(Out):
    id: int
    name: str
    workflow_id: int
    description: str
    repo_path: str
    tickets: int | None = None
