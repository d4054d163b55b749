"""The dashboard's server: Starlette on uvicorn, in a thread beside the streams.

Routes: ``/`` (the page), ``/static/…`` (its JS and CSS, shipped in the package: no CDN),
``/api/devices`` (each device's figures, for scripts), ``/api/state`` (everything the page
draws) and ``/ws`` (a websocket: the full state on connect, then the devices that changed, four
times a second; a browser that reconnects gets the full state again, so it resumes).

Security: it binds 127.0.0.1 unless told otherwise, and another address needs a token; with a
token every request must carry it (``?token=``, the cookie the page sets, or ``Authorization:
Bearer``), else 403 (the websocket is closed with 1008). Without a token the Host header must be
a loopback name (no DNS rebinding). Every route is read-only: the server holds the dashboard's
state, never a device, and discards what a websocket sends. The page renders every string as
text (textContent, canvas fillText), never as HTML, under a strict Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from edgesnn.errors import ArgumentError
from edgesnn.web.state import FleetState

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORT = 8050
#: seconds between websocket updates
PUSH_S = 0.25
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
COOKIE = "edgesnn_token"


def check_host(host: str, token: str | None) -> None:
    """Refuse an address other than loopback without a token (before anything starts)."""
    if host not in LOOPBACK and not token:
        raise ArgumentError(
            f"{{dashboard_host}} {host} would show the devices to the network: give {{token}} too "
            "(every request must then carry it)",
            names=["dashboard_host", "token"],
        )
    if token is not None and len(token) < 8:
        raise ArgumentError("{token} must be at least 8 characters", names=["token"])


class _Guard:
    """ASGI middleware: the token (when set) or a loopback Host header (when not)."""

    def __init__(self, app: Any, token: str | None):
        self.app, self.token = app, token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = b"forbidden: this dashboard needs its token\n"
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _allowed(self, scope: dict) -> bool:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token is None:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1 : host.find("]")]
            return name in LOOPBACK
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = given or auth[7:]
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header carries no token
            cookie = SimpleCookie()
        if not given and COOKIE in cookie:
            given = cookie[COOKIE].value
        return secrets.compare_digest(given.encode(), self.token.encode())


def make_app(state: FleetState, token: str | None = None) -> Any:
    """The Starlette application over ``state``."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket, WebSocketDisconnect

    static = resources.files("edgesnn.web") / "static"
    index = (static / "index.html").read_bytes()
    secure = {"content-security-policy": CSP, "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}

    async def page(request: Any) -> Response:
        r = Response(index, media_type="text/html; charset=utf-8", headers={**secure, "cache-control": "no-store"})
        if token is not None:  # the page's own requests (scripts, websocket) then carry it
            r.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return r

    async def devices(request: Any) -> JSONResponse:
        return JSONResponse({"title": state.title, "devices": state.devices()}, headers=secure)

    async def full(request: Any) -> JSONResponse:
        return JSONResponse(_jsonable({"title": state.title, "devices": state.views()}), headers=secure)

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        drain = asyncio.create_task(_discard(websocket))  # the page cannot command: input is dropped
        try:
            # what was seen is the versions of the views sent: a row that lands between taking the
            # views and noting them goes out in the next update instead of being skipped
            snapshot = state.views()
            seen = {v["device"]: v["version"] for v in snapshot}
            await websocket.send_text(
                json.dumps(_jsonable({"type": "snapshot", "title": state.title, "devices": snapshot}))
            )
            while not drain.done():
                await asyncio.sleep(PUSH_S)
                changed = state.views(seen)
                seen.update({v["device"]: v["version"] for v in changed})
                if changed:
                    await websocket.send_text(json.dumps(_jsonable({"type": "update", "devices": changed})))
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            drain.cancel()

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/devices", devices),
            Route("/api/state", full),
            WebSocketRoute("/ws", ws),
            Mount("/static", StaticFiles(directory=str(static)), name="static"),
        ]
    )
    return _Guard(app, token)


async def _discard(websocket: Any) -> None:
    from starlette.websockets import WebSocketDisconnect

    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError, KeyError):
        return


def _jsonable(v: Any) -> Any:
    """NaN and infinities as null (JSON has neither)."""
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


class Dashboard:
    """A dashboard serving ``state`` on ``host``:``port`` (0: any free port) in a thread.

    ```python
    state = FleetState("digits on 4 devices")
    with Dashboard(state) as dash:
        print(dash.url)
    ```
    """

    def __init__(self, state: FleetState, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None):
        check_host(host, token)
        self.state, self.host, self.token = state, host, token
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as e:
            self._sock.close()
            raise ArgumentError(
                f"the dashboard cannot listen on {host}:{port} ({e.strerror}): pick another {{dashboard_port}}",
                names=["dashboard_port"],
            ) from None
        self.port = self._sock.getsockname()[1]
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self) -> Dashboard:
        import uvicorn
        from uvicorn.config import WS_PROTOCOLS

        ws = "websockets-sansio" if "websockets-sansio" in WS_PROTOCOLS else "websockets"  # the maintained one
        config = uvicorn.Config(
            make_app(self.state, self.token), log_level="warning", ws=ws, lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        for _ in range(200):  # serving within 10 s, or the thread died
            if self._server.started or not self._thread.is_alive():
                break
            self._thread.join(0.05)
        if not self._server.started:
            raise ArgumentError(f"the dashboard did not start on {self.host}:{self.port}")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self._sock.close()

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
