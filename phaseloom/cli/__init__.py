"""The command line: Typer app, one module per command group; the only place that prints."""


def main() -> None:
    """The ``phaseloom`` command: a plain ``--help`` from the stored page (:mod:`phaseloom.cli.quick_help`),
    anything else through the Typer app (:func:`phaseloom.cli.app.main`)."""
    import sys

    from phaseloom.cli.quick_help import answered

    if not answered(sys.argv):
        from phaseloom.cli.app import main as run_the_app

        run_the_app()
