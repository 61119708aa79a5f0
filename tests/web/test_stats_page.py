"""The phase dashboard (``/stats``): the page itself without a browser, and its table and SVG charts in Chromium."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from phaseloom.api.app import create_app
from phaseloom.config import Settings

SEEDED_PHASES = ["PHASE_BACKLOG", "PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION",
                 "PHASE_TESTING", "PHASE_DEPLOYMENT"]


def test_the_stats_page_is_served_with_the_csp_and_linked_from_every_page(db):
    with TestClient(create_app(db, Settings(database_url=db.url))) as client:
        page = client.get("/stats")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert '<script type="module" src="/static/js/stats.js">' in page.text
        assert "<caption>" in page.text
        script = client.get("/static/js/stats.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        for slug in ("board", "graph", "ticket", "workflow", "agents", "stats"):
            assert 'href="/stats"' in client.get(f"/{slug}").text, slug


def bar_phases(page, chart: str, series: str) -> list[str]:
    return page.locator(f"#{chart} rect.bar.{series}").evaluate_all("bars => bars.map(b => b.dataset.phaseId)")


@pytest.mark.slow  # a real browser and a real server
def test_the_dashboard_shows_the_phase_table_bottleneck_and_charts_live(page, site):
    server, demo, _db = site
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(f"{server.url}/stats?project=demo")
    page.wait_for_selector("#stats[data-loaded]")
    rows = page.locator("#phase-table tbody tr")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.phaseId)") == SEEDED_PHASES
    requirements = page.locator("#phase-table tr[data-phase-id='PHASE_REQUIREMENTS'] td").all_text_contents()
    assert requirements[0] == "1" and requirements[4:6] == ["0%", "0"]  # one done, no failures, none queued
    bottleneck = page.locator("#phase-table tr.bottleneck")
    assert bottleneck.count() == 1 and bottleneck.get_attribute("data-phase-id") == "PHASE_IMPLEMENTATION"
    assert "bottleneck" in bottleneck.locator(".bottleneck-marker").inner_text()
    assert "PHASE_IMPLEMENTATION" in page.locator("#bottleneck").inner_text()

    # One bar per phase (two for durations: median and p90), each chart labelled for screen readers.
    assert bar_phases(page, "chart-queue", "series-queue") == SEEDED_PHASES
    assert bar_phases(page, "chart-throughput", "series-throughput") == SEEDED_PHASES
    assert bar_phases(page, "chart-duration", "series-p50") == SEEDED_PHASES
    assert bar_phases(page, "chart-duration", "series-p90") == SEEDED_PHASES
    for chart in ("chart-queue", "chart-throughput", "chart-duration"):
        assert page.locator(f"#{chart} > title").text_content() == page.get_attribute(f"#{chart}", "aria-label")
    queue_widths = page.locator("#chart-queue rect.bar").evaluate_all(
        "bars => bars.map(b => Number(b.getAttribute('width')))")
    assert queue_widths[SEEDED_PHASES.index("PHASE_IMPLEMENTATION")] > 0
    assert sum(queue_widths) == queue_widths[SEEDED_PHASES.index("PHASE_IMPLEMENTATION")]

    # A task queued through the API shows up without a reload.
    page.wait_for_selector("#live-status[data-state='live']")
    response = httpx.post(f"{server.url}/api/tasks", json={"ticket_id": demo.testing_ticket,
                                                           "phase_id": "PHASE_TESTING", "title": "Retest"},
                          headers={"Authorization": f"Bearer {demo.admin_token}"})
    assert response.status_code == 201, response.text
    page.wait_for_function("""() => document.querySelector("#phase-table tr[data-phase-id='PHASE_TESTING']")
                                      .children[6].textContent === '1'""", timeout=10000)
    assert problems == []  # no CSP violations or script errors
