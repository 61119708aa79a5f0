"""The MCP maintainers' conformance suite (``@modelcontextprotocol/conformance``) against phaseloom's /mcp.

Installed by ``scripts/install-agent-clis`` into ``.cache/conformance`` (with a Node 22 from npm: the
suite needs ``fs.globSync``). Without it the test skips, and fails under ``PHASELOOM_REQUIRE_SERVICES=1``.

The suite's client cannot send a bearer token, so the app is served behind a front that adds one
agent's ``Authorization`` header and changes nothing else: Host and Origin reach phaseloom's check
exactly as the suite sends them.

The scenarios run are the suite's tests of the protocol itself. The others drive fixtures of the
reference "everything" server that phaseloom's tools are not (``test_image_content``,
``test_simple_prompt``, ``test://static-text``…) or capabilities it does not offer (logging,
completions, sampling, elicitation, resource subscriptions); they are listed in NOT_APPLICABLE so a
new scenario of a newer suite is noticed rather than silently left out.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from phaseloom.api.app import create_app
from phaseloom.config import Settings
from phaseloom.services.auth import AuthService
from tests.api.live_server import ThreadedServer
from tests.conftest import ROOT, service_unavailable

CONFORMANCE = ROOT / ".cache" / "conformance" / "node_modules"
ENTRY = CONFORMANCE / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
PROTOCOL_SCENARIOS = ("server-initialize", "ping", "tools-list", "tools-call-error", "server-sse-multiple-streams",
                      "resources-list", "prompts-list", "dns-rebinding-protection")
NOT_APPLICABLE = {
    "logging-set-level", "completion-complete", "tools-call-simple-text", "tools-call-image", "tools-call-audio",
    "tools-call-embedded-resource", "tools-call-mixed-content", "tools-call-with-logging", "tools-call-with-progress",
    "tools-call-sampling", "tools-call-elicitation", "json-schema-2020-12", "elicitation-sep1034-defaults",
    "server-sse-polling", "elicitation-sep1330-enums", "resources-read-text", "resources-read-binary",
    "resources-templates-read", "resources-subscribe", "resources-unsubscribe", "prompts-get-simple",
    "prompts-get-with-args", "prompts-get-embedded-resource", "prompts-get-with-image"}


def _node() -> str:
    node = CONFORMANCE / ".bin" / "node"
    found = str(node) if node.exists() else shutil.which("node")
    if not ENTRY.exists() or not found:
        service_unavailable("the MCP conformance suite is not installed: run scripts/install-agent-clis")
    return found


def _with_token(app, token: str):
    async def front(scope, receive, send):
        if scope["type"] == "http":
            scope = {**scope, "headers": [*scope["headers"], (b"authorization", f"Bearer {token}".encode())]}
        await app(scope, receive, send)
    return front


def _server_scenarios(node: str) -> set[str]:
    listed = subprocess.run([node, str(ENTRY), "list"], capture_output=True, text=True, timeout=60, check=True).stdout
    server_part = listed.split("Client scenarios")[0]
    return {line.strip()[2:].split(" [")[0] for line in server_part.splitlines() if line.strip().startswith("- ")}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_conformance_suites_protocol_scenarios_all_pass(db, uow, tmp_path):
    node = _node()
    assert _server_scenarios(node) == set(PROTOCOL_SCENARIOS) | NOT_APPLICABLE, "the suite's scenarios changed"
    _, token = AuthService(uow).register_agent("conformance", agent_type="worker")
    app = _with_token(create_app(db, Settings(database_url=db.url)), token)
    failed: dict[str, list] = {}
    with ThreadedServer(app, path="/mcp") as server:
        for scenario in PROTOCOL_SCENARIOS:
            out = tmp_path / scenario
            subprocess.run([node, str(ENTRY), "server", "--url", f"http://localhost:{server.port}/mcp",
                            "--scenario", scenario, "-o", str(out)], cwd=tmp_path, capture_output=True, check=False,
                           text=True, timeout=120)
            checks = [c for f in out.glob("*/checks.json") for c in json.loads(f.read_text())]
            bad = [(c["id"], c["status"], c.get("errorMessage")) for c in checks if c["status"] != "SUCCESS"]
            if not checks or bad:
                failed[scenario] = bad or ["no checks were recorded"]
    assert failed == {}
