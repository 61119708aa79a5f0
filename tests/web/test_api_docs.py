"""``/docs`` and ``/redoc`` render in Chromium with every request off this machine refused."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow  # a real browser and a real server

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture
def offline_tab(browser, site):
    """A tab whose network is off: any request to a host other than loopback is aborted and recorded."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    blocked: list[str] = []

    def only_loopback(route):
        if urlsplit(route.request.url).hostname in LOOPBACK or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    tab = context.new_page()
    tab.set_default_timeout(15000)
    yield tab, blocked, site[0]
    context.close()


def test_swagger_ui_renders_offline(offline_tab):
    tab, blocked, server = offline_tab
    tab.goto(f"{server.url}/docs")
    tab.wait_for_selector(".swagger-ui .opblock-summary-path")
    assert tab.locator(".swagger-ui .opblock").count() > 20  # every route, not an empty shell
    assert "phaseloom" in tab.locator(".swagger-ui .info .title").inner_text()
    assert blocked == []


def test_redoc_renders_offline(offline_tab):
    tab, blocked, server = offline_tab
    tab.goto(f"{server.url}/redoc")
    tab.wait_for_selector("[data-section-id^='tag/']")
    tab.wait_for_selector("h1:has-text('phaseloom')")
    assert tab.locator("[data-section-id^='operation/']").count() > 20
    assert blocked == []
