"""/docs (Swagger UI) and /redoc, served with their scripts and styles from this process.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so offline they are blank. The assets come
from the `fastapi-offline` package (Swagger UI 5 and ReDoc 2 bundles, kept up to date on PyPI); only
its files are used, the pages are FastAPI's with local URLs.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

ASSETS_PATH = "/docs-assets"
_ASSETS = files("fastapi_offline") / "static"
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
# ReDoc's menu shows a logo fetched from its vendor's CDN on every page view; a blank image instead
# keeps the page from reaching out (and from failing a request offline).
_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
_BLANK_SVG = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
SWAGGER_UI_PARAMETERS: dict[str, Any] = {
    # Without this Swagger UI sends the schema to validator.swagger.io for a badge.
    "validatorUrl": None,
    # The token typed into "Authorize" survives a reload of the page.
    "persistAuthorization": True,
    "tryItOutEnabled": True,
    "displayRequestDuration": True,
}


@cache
def _asset(name: str) -> bytes | None:
    resource = _ASSETS / name
    if "/" in name or not resource.is_file():
        return None
    data = resource.read_bytes()
    if name == "redoc.standalone.js":
        data = data.replace(_REDOC_LOGO, _BLANK_SVG)
    return data


def add_docs(app: FastAPI) -> None:
    """Register /docs, /docs/oauth2-redirect, /redoc and the assets they load (app built with docs_url=None)."""
    openapi_url = app.openapi_url or "/openapi.json"
    favicon = f"{ASSETS_PATH}/favicon.png"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API docs",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=favicon,
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        data = _asset(name)
        if data is None:
            return Response(b'{"detail":"Not Found"}', status_code=404, media_type="application/json")
        media_type = _MEDIA_TYPES.get(name[name.rfind(".") :], "application/octet-stream")
        return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
