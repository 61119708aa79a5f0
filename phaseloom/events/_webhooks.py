"""Webhooks: one JSON POST to a URL a person configured, time-limited, never raising (the event stands
either way; a failure is logged)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

log = logging.getLogger(__name__)


def post_json(url: str, body: dict, timeout_seconds: float) -> bool:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "phaseloom"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:  # noqa: S310 - a configured URL
            response.read(1024)
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("the webhook %s did not take %s of task %s: %s", url, body.get("event", "the event"),
                    body.get("task_id"), exc)
        return False
