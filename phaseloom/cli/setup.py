"""``phaseloom init`` and ``phaseloom db upgrade``."""

from __future__ import annotations

import typer

from phaseloom.cli.context import console, state

SHIPPED = ("software_development", "research")


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)

    @db_app.command("upgrade")
    def db_upgrade() -> None:
        """Apply every pending migration."""
        from phaseloom.db.engine import Database
        from phaseloom.db.migrate import current_revisions, upgrade

        settings = state.settings
        db = Database.connect(settings.database_url)
        before = current_revisions(db.engine)
        upgrade(db.engine)
        after = current_revisions(db.engine)
        word = "already up to date" if before == after else "upgraded"
        console.print(f"database {word}: {', '.join(sorted(after))}")

    app.add_typer(db_app, name="db")

    @app.command("init")
    def init() -> None:
        """Create the database and seed the shipped workflows (software_development, research)."""
        from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
        from phaseloom.services.workflows import WorkflowService

        state.may_create_database = True
        uow = state.uow()
        for name in SHIPPED:
            outcome = WorkflowService(uow).save_document(
                load_workflow_source(shipped_workflow(name)), source=str(shipped_workflow(name)), overwrite=True
            )
            console.print(f"workflow [bold]{outcome.name}[/] v{outcome.version}: {outcome.action}")
        console.print(f"ready: {state.settings.database_url}")
        from phaseloom.cli.serve import ensure_admin_token, print_admin_token

        admin_token = ensure_admin_token()
        if admin_token:
            print_admin_token(admin_token)
        else:
            console.print("admin token already configured (rotate with 'phaseloom token create-admin')")
