"""``/docs`` (Swagger UI) and ``/redoc`` served from this machine, never from a CDN.

FastAPI's own pages load their JavaScript and CSS from a CDN, so they stay blank offline. This is
FastAPI's self-hosting recipe ("Custom Docs UI Static Assets") with the assets of the
``fastapi-offline`` package (a PyPI dependency that ships Swagger UI and ReDoc bundles).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static-docs"
# Nothing on these pages may leave this server: ReDoc's footer has a logo <img> from its CDN, which this
# refuses before any request is made (the footer then shows its text only). Inline script and style stay
# allowed: FastAPI's Swagger page starts with an inline script, and both UIs inject styles.
OFFLINE_POLICY = {"Content-Security-Policy": "default-src 'self' 'unsafe-inline' data: blob:; frame-ancestors 'none'"}


def assets_folder() -> str:
    """The folder of ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js`` and ``favicon.png``."""
    return str(files("fastapi_offline") / "static")


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(OFFLINE_POLICY)
    return page


def mount_docs(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect and ``/redoc`` to an app built with ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_folder()), name="docs-assets")
    favicon = f"{ASSETS_URL}/favicon.png"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _offline(get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI", oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=favicon))

    @app.get(redirect_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return _offline(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _offline(get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - ReDoc",
                                       redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js", redoc_favicon_url=favicon,
                                       with_google_fonts=False))
