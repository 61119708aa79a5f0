"""The command line: Typer app, one module per command group; the only place that prints."""
