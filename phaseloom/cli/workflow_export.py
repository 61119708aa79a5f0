"""``phaseloom workflow export NAME [--format phaseloom|omoios|hephaestus] [--out PATH]``."""

from __future__ import annotations

from pathlib import Path

import typer

from phaseloom.cli.context import console, state
from phaseloom.cli.workflows import workflow_app
from phaseloom.domain.errors import InvalidInput


@workflow_app.command("export")
def export(
    name: str = typer.Argument(..., help="A stored workflow (name or id), or a workflow file or folder to convert."),
    format: str = typer.Option("phaseloom", "--format", "-f", help="phaseloom, omoios or hephaestus."),
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (folder for hephaestus); "
                                                                 "default: print the YAML."),
) -> None:
    """Write a workflow in phaseloom's, OmoiOS's or Hephaestus's format; loading it gives the same workflow."""
    from phaseloom.loaders import export as exporters

    if format not in exporters.FORMATS:
        raise InvalidInput(f"--format {format!r}: expected one of {', '.join(exporters.FORMATS)}")
    workflow = _workflow(name)
    if format == "hephaestus":
        if out is None:
            raise InvalidInput("--format hephaestus writes a folder: give it with --out")
        _write_folder(out, exporters.export_hephaestus(workflow))
        console.print(f"wrote {out}/ ({len(workflow.phases)} phase files and phases_config.yaml)", highlight=False)
        return
    text = exporters.export_omoios(workflow) if format == "omoios" else exporters.export_phaseloom(workflow)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}", highlight=False)


def _workflow(name: str):
    from phaseloom.loaders.sources import load_workflow_source
    from phaseloom.services.workflows import WorkflowService

    if Path(name).exists():
        return load_workflow_source(name).to_domain()
    return WorkflowService(state.uow(readonly=True)).get(name)


def _write_folder(folder: Path, files: dict[str, str]) -> None:
    """Write the phase files; refuse a folder that holds other YAML files (they would load as phases)."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    strays = sorted(p.name for p in folder.glob("*.y*ml") if p.name not in files)
    if strays:
        raise InvalidInput(f"{folder} already holds {', '.join(strays)}; export into an empty folder")
    for file_name, text in files.items():
        (folder / file_name).write_text(text, encoding="utf-8")
