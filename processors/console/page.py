"""The console page: one HTML file, one script, one stylesheet, served as they are (no build step).

The page only talks to the JSON API of the worker that served it (`processors.console.api`), renders
every value with `textContent` (never as HTML) and is served with a Content-Security-Policy that allows
nothing but this origin's own script and styles.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from aiohttp import web

STATIC: Final = resources.files("processors.console") / "static"
#: The only static files served, with their content types.
ASSETS: Final = {
    "console.js": "text/javascript",
    "console.css": "text/css",
}
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


async def page(request: web.Request) -> web.Response:
    body = (STATIC / "console.html").read_bytes()
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    content_type = ASSETS.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    body = (STATIC / name).read_bytes()
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=SECURITY_HEADERS)


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console")


async def favicon(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})  # no icon, and no 404 noise


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", root)
    app.router.add_get("/console", page)
    app.router.add_get("/console/static/{name}", asset)
    app.router.add_get("/favicon.ico", favicon)
