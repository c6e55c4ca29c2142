"""Swagger UI and ReDoc work offline: every script, stylesheet and icon they load comes from this
server (an installed package), at the root paths the predecessor documented."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


class _Assets(HTMLParser):
    """The URLs a page loads by itself: script src, link href (stylesheets, icons), img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def asset_urls(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize(
    ("page", "bundle"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_the_docs_pages_load_everything_from_this_server(client: TestClient, page: str, bundle: str) -> None:
    answer = client.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    urls = asset_urls(answer.text)
    assert any(url.endswith(bundle) for url in urls), urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), (
            f"{page} loads {url} from elsewhere"
        )
        asset = client.get(url)
        assert asset.status_code == 200, url
        expected = next(kind for suffix, kind in EXPECTED_TYPES.items() if url.endswith(suffix))
        assert expected in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 1000, url  # the real bundle, not a stub
    # No other origin anywhere in the page: not in inline scripts, not in the CSP.
    assert not re.search(r"https?://", answer.text), re.findall(r"https?://[^\s\"'<>]+", answer.text)
    assert "http" not in answer.headers["content-security-policy"]


def test_swagger_signs_in_through_its_local_oauth2_redirect_page(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in page
    redirect = client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "oauth2" in redirect.text.lower()
    assert not re.search(r"<script[^>]+src=", redirect.text)


def test_the_openapi_document_is_also_at_the_root(client: TestClient) -> None:
    root = client.get("/openapi.json")
    assert root.status_code == 200 and root.headers["content-type"] == "application/json"
    assert root.json() == client.get("/api/v1/openapi.json").json()
    assert "/api/v1/auth/login" in root.json()["paths"]
