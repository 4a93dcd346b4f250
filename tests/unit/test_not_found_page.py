"""A path nothing serves: the page's own not-found page to a browser, JSON to the API."""

from __future__ import annotations

import httpx
import pytest

from ukscp.web.pages import CONTENT_SECURITY_POLICY

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("path", ["/no-such-page", "/settings/extra", "/static/no-such.css"])
async def test_a_browser_asking_for_a_page_that_does_not_exist_gets_the_not_found_page(
    anonymous: httpx.AsyncClient, path: str
):
    response = await anonymous.get(path, headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = response.text
    assert "<title>Page not found · Charge point</title>" in page
    assert '<link rel="stylesheet" href="/static/app.css' in page
    assert '<a class="button" href="/">Back to the dashboard</a>' in page


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v1/nothing-here", BROWSER),  # the API keeps its JSON, whoever asks
        ("/api/nothing-here", BROWSER),
        ("/no-such-page", {"Accept": "application/json"}),
        ("/no-such-page", {"Accept": "*/*"}),  # curl, scripts
    ],
)
async def test_the_api_and_clients_that_do_not_ask_for_html_keep_the_json_404(
    anonymous: httpx.AsyncClient, path: str, headers: dict[str, str]
):
    response = await anonymous.get(path, headers=headers)
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "detail": None}


async def test_a_wrong_method_is_still_a_json_405(anonymous: httpx.AsyncClient):
    response = await anonymous.get("/logout", headers=BROWSER)
    assert response.status_code == 405
    assert response.json()["error"] == "Method Not Allowed"

