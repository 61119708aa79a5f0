"""Keep bearer tokens out of log files.

Browsers cannot set headers on a WebSocket, so ``/ws`` also takes ``?token=``; uvicorn's access
log and the websockets debug log print the full request path, query string included. Every log
record is scrubbed where it is made (a record factory), so no handler or formatter can leak one.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

_SECRET = re.compile(r"(?<=token=)[^&\s\"']+|plt_(?:admin|agent)_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with token secrets (``token=…`` query values, ``plt_…`` tokens) replaced.

    A percent-encoded request line (``/ws?%74oken=…`` authenticates: the server decodes the name)
    is matched, and logged, decoded."""
    if "%" in text:
        decoded = unquote(text)
        scrubbed = _scrubbed(decoded)
        if scrubbed != decoded:
            return scrubbed
    return _scrubbed(text)


def _scrubbed(text: str) -> str:
    return _SECRET.sub(REDACTED, text) if ("token=" in text or "plt_" in text) else text


def _scrub(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


def install_log_redaction() -> None:
    """Scrub every log record of this process from now on (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "phaseloom_redacting", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.msg = _scrub(record.msg)
        # Arguments are scrubbed one by one: uvicorn's access formatter unpacks them by position.
        if isinstance(record.args, tuple):
            record.args = tuple(_scrub(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _scrub(v) for k, v in record.args.items()}
        return record

    factory.phaseloom_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
