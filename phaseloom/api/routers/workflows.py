"""``/api/workflows``: upload a workflow file, list and show stored workflows."""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from phaseloom.api.deps import Admin, Caller, Limit, Offset, Uow
from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem
from phaseloom.loaders.sources import load_yaml_workflow
from phaseloom.loaders.yaml_source import MAX_FILE_BYTES
from phaseloom.schemas.api.common import Page, page_of
from phaseloom.schemas.api.workflows import LoadOutcomeOut, WorkflowOut, WorkflowSummaryOut
from phaseloom.schemas.workflow import WorkflowDocument
from phaseloom.services.workflows import WorkflowService

router = APIRouter(prefix="/api/workflows", tags=["workflows"])
WorkflowRef = Annotated[str, Path(max_length=200, description="workflow name or id")]
UPLOAD_NAME = "upload"

_YAML_BODY = {"requestBody": {"required": True, "content": {
    "application/yaml": {"schema": {"type": "string"}},
    "text/plain": {"schema": {"type": "string"}},
}}}


def parse_workflow_upload(raw: bytes, name: str | None) -> WorkflowDocument:
    """Validate an uploaded workflow with the file loader's checks; problems name the upload, not a temp file."""
    if len(raw) > MAX_FILE_BYTES:
        raise WorkflowInvalid([WorkflowProblem(f"upload is {len(raw)} bytes; the limit is {MAX_FILE_BYTES}",
                                               file=UPLOAD_NAME)])
    with tempfile.TemporaryDirectory(prefix="phaseloom-upload-") as folder:
        # The loader names an unnamed workflow after its file.
        path = FilePath(folder) / f"{name or UPLOAD_NAME}.yaml"
        path.write_bytes(raw)
        try:
            return load_yaml_workflow(path)
        except WorkflowInvalid as exc:
            for problem in exc.problems:
                problem.file = UPLOAD_NAME
            raise WorkflowInvalid(exc.problems) from None


@router.post("", response_model=LoadOutcomeOut, openapi_extra=_YAML_BODY,
             summary="Upload a workflow (YAML body); validated exactly like a loaded file")
async def upload_workflow(
    request: Request, uow: Uow, _admin: Admin,
    overwrite: bool = False,
    name: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$",
                                      description="name when the document has none")] = None,
) -> LoadOutcomeOut:
    raw = await request.body()

    def save() -> LoadOutcomeOut:
        document = parse_workflow_upload(raw, name)
        outcome = WorkflowService(uow).save_document(document, source=f"api:{UPLOAD_NAME}", overwrite=overwrite)
        return LoadOutcomeOut.model_validate(outcome)

    return await run_in_threadpool(save)


@router.get("", response_model=Page[WorkflowSummaryOut])
def list_workflows(uow: Uow, _caller: Caller, limit: Limit = 50, offset: Offset = 0):
    workflows = WorkflowService(uow).list()
    return page_of(workflows[offset:offset + limit], limit, offset)


@router.get("/{workflow}", response_model=WorkflowOut)
def show_workflow(workflow: WorkflowRef, uow: Uow, _caller: Caller) -> WorkflowOut:
    return WorkflowOut.from_domain(WorkflowService(uow).get(workflow))
