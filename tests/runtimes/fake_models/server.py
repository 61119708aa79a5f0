"""The HTTP side of the fake: a threaded loopback server routing each provider's path to its module."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.runtimes.fake_models.script import Reply, Script


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


# A protocol module's answer: an error Reply, a JSON body, or SSE chunks (already framed bytes).
Answer = Reply | dict | Iterable[bytes]


def _route(path: str):
    from tests.runtimes.fake_models import anthropic, chat, responses

    path = path.split("?", 1)[0].rstrip("/")
    if path.endswith("/messages/count_tokens"):
        return anthropic.count_tokens
    if path.endswith("/messages"):
        return anthropic.respond
    if path.endswith("/responses"):
        return responses.respond
    if path.endswith("/chat/completions"):
        return chat.respond
    return None


class FakeModelServer:
    """``with FakeModelServer(script) as server: server.url`` — ``server.requests`` records every request."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.requests: list[Recorded] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> "FakeModelServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def model_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and _route(r.path) is not None]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server.requests.append(Recorded("GET", self.path, dict(self.headers), None))
                if self.path.split("?")[0].rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model",
                                                                 "created": 0, "owned_by": "fake"}]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode(errors="replace")}
                server.requests.append(Recorded("POST", self.path, dict(self.headers), body))
                handler = _route(self.path)
                if handler is None:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    answer = handler(body, server.script)
                except Exception as exc:  # noqa: BLE001 - show a script mistake to the client and the test
                    self._json(500, {"error": {"type": "fake_server_error", "message": f"{type(exc).__name__}: {exc}"}})
                    return
                if isinstance(answer, Reply):
                    self._json(answer.status, answer.body, answer.headers)
                elif isinstance(answer, dict):
                    self._json(200, answer)
                else:
                    self._sse(answer)

            def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, chunks: Iterable[bytes]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler


def sse(event: str | None, data: dict | str) -> bytes:
    """One server-sent event, framed."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()
