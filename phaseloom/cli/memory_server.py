"""``phaseloom memory add|search`` through a running ``phaseloom serve`` (its REST API).

Used when ``api_url`` is configured (``PHASELOOM_API_URL`` or ``phaseloom.toml``), so a memory
command costs the CLI's start-up plus one HTTP round trip: the server already has the database
open and the embedding model loaded. This module is imported before anything heavy, so it reads
those two settings itself (stdlib ``tomllib`` and ``urllib``) instead of importing pydantic-settings,
SQLAlchemy and numpy, which are most of a local command's second. The precedence is
``Settings``'s: the environment (any case) over ``phaseloom.toml`` in the working directory.

A configured server that cannot be reached is an error, not a fall-back to the local database:
the server may use another database than this shell would, and a memory saved there or a search
answered from here would silently disagree with what the agents see.
"""

from __future__ import annotations

import json
import os
import tomllib
import urllib.error
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phaseloom.domain.errors import PhaseloomError

TOML_FILE = "phaseloom.toml"
# The first embedding a fresh ``serve`` makes loads the model (about a second; 5-10 s with torch).
REQUEST_TIMEOUT_SECONDS = 60.0
BYPASS_HINT = "set PHASELOOM_API_URL= (empty) to use the database directly"


def toml_settings(folder: Path) -> dict[str, Any]:
    path = folder / TOML_FILE
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PhaseloomError(f"{path}: cannot read it: {exc}") from None


def setting_value(name: str, environ: dict[str, str], toml: dict[str, Any]) -> Any:
    """``PHASELOOM_<NAME>`` from the environment (case-insensitive, as pydantic-settings reads it),
    else ``name`` from ``phaseloom.toml``, as written; None when neither sets it."""
    wanted = f"PHASELOOM_{name}".upper()
    for key, value in environ.items():
        if key.upper() == wanted:
            return value
    return toml.get(name)


def setting(name: str, environ: dict[str, str], toml: dict[str, Any]) -> str:
    """:func:`setting_value` as a stripped string, empty when unset."""
    value = setting_value(name, environ, toml)
    return str(value).strip() if value is not None else ""


@dataclass(frozen=True)
class MemoryServer:
    """A running ``serve``: its base URL and the bearer token the CLI sends (may be empty)."""

    url: str
    token: str

    def request(self, method: str, path: str, *, query: dict | None = None, body: dict | None = None) -> dict:
        """One API call; any failure is a one-line PhaseloomError that names the server."""
        import urllib.request  # 20 ms: only a request needs it, not reading the settings (cli/memory_route.py)

        address = self.url + path + (("?" + urllib.parse.urlencode(query)) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(address, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise PhaseloomError(f"phaseloom serve at {self.url} answered {method} {path} with "
                                 f"{exc.code} {_error_message(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PhaseloomError(f"phaseloom serve at {self.url} (PHASELOOM_API_URL) is not reachable: {reason}; "
                                 f"nothing was done (no fall-back to the local database). Start `phaseloom serve`, "
                                 f"or {BYPASS_HINT}") from None
        except ValueError:
            raise PhaseloomError(f"{self.url}{path} did not answer JSON: is PHASELOOM_API_URL a phaseloom serve?") \
                from None

    def project_id(self, project: str) -> int:
        """A project's id from its name or id (the API's memory routes take ids)."""
        if project.isdigit():
            return int(project)
        return int(self.request("GET", "/api/projects/" + urllib.parse.quote(project, safe=""))["id"])


def _error_message(exc: urllib.error.HTTPError) -> str:
    """The API's ``{"error": {"message"}}`` (or FastAPI's ``detail``), else the HTTP reason."""
    try:
        payload = json.loads(exc.read() or b"{}")
    except ValueError:
        return str(exc.reason)
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if payload.get("detail"):
            return str(payload["detail"])
    return str(exc.reason)


def configured_server(environ: dict[str, str] | None = None, folder: Path | None = None) -> MemoryServer | None:
    """The ``serve`` memory commands should use, or None (no ``api_url``: the local database).

    The token is ``api_token``, else ``PHASELOOM_AGENT_TOKEN`` (an agent running the CLI), else none
    (a loopback ``serve`` before any admin token exists)."""
    environ = dict(os.environ) if environ is None else environ
    toml = toml_settings(Path.cwd() if folder is None else folder)
    url = setting("api_url", environ, toml).rstrip("/")
    if not url:
        return None
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise PhaseloomError(f"PHASELOOM_API_URL {url!r} is not an http(s) URL of a phaseloom serve; "
                             f"{BYPASS_HINT}")
    token = setting("api_token", environ, toml) or environ.get("PHASELOOM_AGENT_TOKEN", "").strip()
    return MemoryServer(url=url, token=token)
