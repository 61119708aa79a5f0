"""``phaseloom serve`` (the HTTP API) and ``phaseloom token`` (admin tokens).

FastAPI and uvicorn are imported inside the commands so ``phaseloom --help`` stays fast.
"""

from __future__ import annotations

import typer

from phaseloom.cli.context import console, err_console, state

token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)


def ensure_admin_token() -> str | None:
    """Create the first admin token if none exists; return it (shown once), or None if one existed."""
    from phaseloom.services.auth import AuthService

    auth = AuthService(state.uow())
    if auth.has_admin_token():
        return None
    return auth.create_admin_token(label="init")


def print_admin_token(token: str) -> None:
    console.print("admin token (shown only once; store it safely):", highlight=False)
    # Plain print: no wrapping or markup, so the token can be copied or captured from stdout.
    print(token, flush=True)


@token_app.command("create-admin")
def create_admin(label: str = typer.Option("", "--label", help="A note to remember the token by.")) -> None:
    """Create a new admin token; every earlier admin token stops working."""
    from phaseloom.services.auth import AuthService

    print_admin_token(AuthService(state.uow()).create_admin_token(label=label, rotate=True))


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")

    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; other than loopback needs auth."),
        port: int = typer.Option(8765, "--port", min=0, max=65535),
    ) -> None:
        """Serve the HTTP API (OpenAPI at /docs), events and MCP."""
        import uvicorn

        from phaseloom.api.app import create_app
        from phaseloom.domain.errors import Conflict
        from phaseloom.services.auth import AuthService

        db = state.database()
        if not _is_local(host) and not AuthService(state.uow(readonly=True)).has_admin_token():
            raise Conflict(f"refusing to serve on {host} without auth; run 'phaseloom token create-admin' first "
                           "(or bind 127.0.0.1)")
        settings = state.settings
        err_console.print(f"phaseloom serving on http://{host}:{port} (docs at /docs)", highlight=False)
        from phaseloom.api.log_redaction import install_log_redaction

        install_log_redaction()  # /ws?token=… must not reach the access log
        uvicorn.run(create_app(db, settings), host=host, port=port, log_level=settings.log_level.lower())


def _is_local(host: str) -> bool:
    from phaseloom.api.deps import is_loopback

    return host == "localhost" or is_loopback(host)
