"""GET /: the page, its static files and favicon, with security headers; no inline script or style."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.routes.page import STATIC_DIR


@pytest.fixture
def fast_path() -> bool:
    return True


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] in ("script", "style") and data.strip():
            self.inline_script = True


def _assert_page_headers(headers: dict[str, str] | object) -> None:
    csp = headers["content-security-policy"]  # type: ignore[index]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"  # type: ignore[index]


def test_page_is_served_with_security_headers(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    _assert_page_headers(response.headers)
    assert "<canvas" in response.text


def test_every_file_the_page_names_is_served_with_the_headers(client: TestClient) -> None:
    parser = _Tags()
    parser.feed(client.get("/").text)
    urls = [attrs.get("src") or attrs.get("href") for tag, attrs in parser.tags if tag in ("script", "link")]
    assert len(urls) >= 4
    for url in urls:
        assert url, "a script or link with no address"
        assert url.startswith("/"), f"{url}: the page loads nothing from elsewhere"
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_page_headers(response.headers)
    modules = sorted((STATIC_DIR / "js").glob("*.js"))
    for module in modules:
        response = client.get(f"/static/js/{module.name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")


def test_no_inline_script_style_or_handlers(client: TestClient) -> None:
    parser = _Tags()
    parser.feed(client.get("/").text)
    assert not parser.inline_script
    for tag, attrs in parser.tags:
        assert "style" not in attrs, f"<{tag}> has a style attribute, which the CSP blocks"
        assert not [name for name in attrs if name.startswith("on")], f"<{tag}> has an inline handler"
        if tag == "script":
            assert attrs.get("src"), "every script is a file"


def test_scripts_use_only_the_public_api(client: TestClient) -> None:
    """Every path the page's JavaScript calls is in the OpenAPI schema, or the registry (issue 10)."""
    paths = set(client.get("/openapi.json").json()["paths"])
    source = "\n".join(path.read_text() for path in (STATIC_DIR / "js").glob("*.js"))
    called = set(re.findall(r"[`\"](/(?:predict|model|models|train)[^`\"?]*)", source))
    assert {"/predict", "/predict/explain", "/model", "/train"} <= called
    for path in called:
        template = re.sub(r"\$\{[^}]*\}", "{id}", path)
        if template.startswith("/models"):
            continue  # the model registry's API (issue 10)
        pattern = re.sub(r"\\\{id\\\}", r"\\{[a-z_]+\\}", re.escape(template))
        assert any(re.fullmatch(pattern, known) for known in paths), f"{path} is not a public endpoint"


def test_favicon(client: TestClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # ICO header


def test_page_is_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [path for path in paths if path.startswith("/static")]


def test_vendored_chart_library_has_its_licence() -> None:
    vendor = STATIC_DIR / "vendor" / "uplot"
    assert "MIT License" in (vendor / "LICENSE").read_text()
    assert "1.6.32" in (vendor / "README.md").read_text()
    assert "/static/vendor/uplot/uPlot.iife.min.js" in (STATIC_DIR / "index.html").read_text()
    assert Path(vendor / "uPlot.iife.min.js").stat().st_size > 10_000


def test_the_camera_picker_asks_for_the_camera(client: TestClient) -> None:
    parser = _Tags()
    parser.feed(client.get("/").text)
    inputs = {attrs.get("id"): attrs for tag, attrs in parser.tags if tag == "input"}
    assert inputs["camera"]["capture"] == "environment"
    assert inputs["camera"]["accept"] == "image/*"
    assert "multiple" in inputs["files"]


@pytest.mark.parametrize("path", ["/static/missing.js", "/static/../api/main.py", "/static/%2e%2e/core/config.py"])
def test_nothing_outside_the_static_files_is_served(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "APIRouter" not in response.text
    assert "Settings" not in response.text
