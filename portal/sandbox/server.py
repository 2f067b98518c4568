"""The sandbox's HTTP server: one base URL for the API, OAuth, booking pages and test controls.

Built on `http.server.ThreadingHTTPServer` rather than Django so that a fault can close the
socket after a write was applied without answering, which no WSGI stack lets a view do.
Per request: route, count, authenticate, rate-limit (per user, fixed window), check scope,
maybe inject a fault, run the handler under the sandbox lock, write the answer.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

from portal.sandbox import webhooks
from portal.sandbox.api import ROUTES as API_ROUTES
from portal.sandbox.booking import PAGE_ROUTES, SCHEDULING_URL_ROUTES
from portal.sandbox.http import (
    UNKNOWN,
    ApiError,
    Request,
    Response,
    Route,
    Router,
    not_found,
    timestamp,
    unauthenticated,
)
from portal.sandbox.oauth import OAUTH_ROUTES, has_scope
from portal.sandbox.state import RateWindow, Sandbox

MAX_BODY = 2 * 1024 * 1024


def get_requests(sb: Sandbox, req: Request) -> Response:
    return Response.json(200, {"counts": sb.requests.snapshot(), "total": sb.requests.total()})


def reset_requests(sb: Sandbox, req: Request) -> Response:
    sb.requests.reset()
    return Response.empty()


def get_info(sb: Sandbox, req: Request) -> Response:
    return Response.json(
        200,
        {
            "organization": sb.organization_uri(req.base),
            "owner": f"{req.base}/users/{sb.owner.uuid}",
            "owner_token": sb.owner_token,
            "admin_tokens": sb.admin_tokens,
            "user_token": sb.user_token,
            "other_org_token": sb.other_org_token,
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "webhook_signing_key": sb.webhook_signing_key,
        },
    )


def get_deliveries(sb: Sandbox, req: Request) -> Response:
    """Every webhook message, oldest first: `headers` as first signed, `status` and `error` of
    the latest attempt, each attempt, and what became of the message (`outcome`)."""
    return Response.json(
        200,
        [
            {
                "url": d.url,
                "event": d.event,
                "subscription": f"{req.base}/webhook_subscriptions/{d.subscription}",
                "status": d.status,
                "error": d.error,
                "headers": d.headers,
                "body": json.loads(d.body),
                "outcome": d.outcome,
                "next_attempt_at": timestamp(d.next_attempt_at) if d.next_attempt_at else None,
                "attempts": [
                    {
                        "attempt": number,
                        "at": timestamp(a.at),
                        "status": a.status,
                        "error": a.error,
                        "headers": a.headers,
                    }
                    for number, a in enumerate(d.attempts, 1)
                ],
            }
            for d in sb.deliveries
        ],
    )


def accept_invitation(sb: Sandbox, req: Request) -> Response:
    email = str(req.json_body().get("email", ""))
    try:
        person = sb.accept_invitation(email)
    except StopIteration:
        raise not_found() from None
    return Response.json(200, {"user": f"{req.base}/users/{person.uuid}"})


def decline_invitation(sb: Sandbox, req: Request) -> Response:
    sb.decline_invitation(str(req.json_body().get("email", "")))
    return Response.empty()


def invitations_sent(sb: Sandbox, req: Request) -> Response:
    """Invitations created per address, and duplicates refused: how bulk jobs are judged."""
    with sb.lock:
        return Response.json(
            200,
            {
                "sent": dict(sb.invitations_sent),
                "duplicates_refused": dict(sb.duplicate_invitations_refused),
            },
        )


CONTROL_ROUTES = [
    Route("GET", "/_sandbox/invitations/sent", invitations_sent, kind="control"),
    Route("GET", "/_sandbox/requests", get_requests, kind="control"),
    Route("DELETE", "/_sandbox/requests", reset_requests, kind="control"),
    Route("GET", "/_sandbox/info", get_info, kind="control"),
    Route("GET", "/_sandbox/deliveries", get_deliveries, kind="control"),
    Route("POST", "/_sandbox/invitations/accept", accept_invitation, kind="control"),
    Route("POST", "/_sandbox/invitations/decline", decline_invitation, kind="control"),
]
ROUTER = Router([*API_ROUTES, *OAUTH_ROUTES, *PAGE_ROUTES, *CONTROL_ROUTES, *SCHEDULING_URL_ROUTES])


def rate_headers(sb: Sandbox, key: str) -> tuple[dict[str, str], bool]:
    """Count one request against `key`'s fixed window; the headers and whether it is over."""
    limit, period = sb.rate_limit
    now = sb.clock()
    with sb.lock:
        window = sb.windows.get(key)
        if window is None or now >= window.started + period:
            window = sb.windows[key] = RateWindow(now)
        window.used += 1
        used = window.used
        reset = max(1, math.ceil(window.started + period - now))
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, limit - used)),
        "X-RateLimit-Reset": str(reset),
    }
    over = used > limit
    if over and sb.retry_after:
        # Calendly's rate-limit page lists X-RateLimit-* only, not Retry-After; opt-in here.
        headers["Retry-After"] = str(reset)
    return headers, over


def pick_fault(sb: Sandbox, route: Route) -> str | None:
    with sb.lock:
        if sb.forced_faults:
            return sb.forced_faults.pop(0)
        if sb.faults <= 0 or sb.fault_rng.random() >= sb.faults:
            return None
        kinds = [k for k in sb.fault_kinds if k != "drop" or route.writes]
        return sb.fault_rng.choice(kinds) if kinds else None


def run(sb: Sandbox, route: Route, req: Request) -> Response:
    with sb.lock:
        try:
            return route.handler(sb, req)
        except ApiError as error:
            return Response.error(error)


def dispatch(sb: Sandbox, req: Request) -> tuple[Response, bool]:
    """The answer to `req`, and whether to close the connection instead of sending it."""
    route, params, path_known = ROUTER.match(req.method, req.path)
    if route is None:
        if path_known:
            return Response.json(405, {"title": "Method Not Allowed", "message": req.method}), False
        return Response.error(not_found()), False
    req.params = params
    if route.kind == "control":
        return run(sb, route, req), False
    sb.requests.add(route.key)
    if route.kind == "page":
        return run(sb, route, req), False

    headers: dict[str, str] = {}
    if route.kind == "api":
        header = req.headers.get("Authorization", "")
        token = sb.authenticate(header[7:].strip()) if header.startswith("Bearer ") else None
        if token is None:
            # Unauthenticated calls are budgeted by client address so the headers still appear.
            headers, _over = rate_headers(sb, f"anonymous:{req.headers.get('X-Client-Address')}")
            response = Response.error(unauthenticated())
            response.headers.update(headers)
            return response, False
        req.token, req.user = token, sb.users[token.user]
        headers, over = rate_headers(sb, token.user)
        with sb.lock:
            sb.budgeted_requests[token.value] += 1
            if over:
                sb.rate_limited_requests[token.value] += 1
        if over:
            response = Response.json(
                429,
                {
                    "title": "Too Many Requests",
                    "message": "You have exceeded the rate limit. Please wait and retry.",
                },
            )
            response.headers.update(headers)
            return response, False
        if not has_scope(token.scope, route.scope):
            response = Response.error(
                ApiError(
                    403,
                    "Insufficient scope",
                    "This operation requires the scopes listed in the 'required_scopes' array.",
                    extra={"required_scopes": [route.scope]},
                )
            )
            response.headers.update(headers)
            return response, False

    fault = pick_fault(sb, route) if route.kind in {"api", "oauth"} else None
    if fault == "error":
        response = Response.json(500, {"title": "Internal Server Error", "message": UNKNOWN})
        response.headers.update(headers)
        return response, False
    if fault == "slow":
        time.sleep(sb.fault_delay)
    response = run(sb, route, req)
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    # "The write was accepted, then the connection dropped": the change is applied above, the
    # client never learns about it and must re-read before retrying.
    return response, fault == "drop"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.sandbox = sandbox
        self.verbose = verbose
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CalendlySandbox/1.0"
    # Idle keep-alive connections give up after this long, so threads do not pile up.
    timeout = 30

    @property
    def app(self) -> _Server:
        return cast(_Server, self.server)

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without this, Nagle's algorithm holds the
        # body until the client's delayed ACK (about 40 ms on every keep-alive request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.app.connections_lock:
            self.app.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.app.connections_lock:
                self.app.connections.discard(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        if self.app.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def do_PATCH(self) -> None:
        self.serve()

    def do_PUT(self) -> None:
        self.serve()

    def do_DELETE(self) -> None:
        self.serve()

    def serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or f"127.0.0.1:{self.app.server_port}"
        headers = dict(self.headers.items())
        headers["X-Client-Address"] = self.client_address[0]
        req = Request.build(self.command, self.path, headers, body, f"http://{host}")
        sb = self.app.sandbox
        try:
            response, drop = dispatch(sb, req)
        except Exception:  # an unexpected bug must not kill the connection silently
            self.log_error("sandbox error on %s %s", self.command, self.path)
            response = Response.json(500, {"title": "Internal Server Error", "message": UNKNOWN})
            drop = False
            if self.app.verbose:
                raise
        if drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Sandbox-Time", timestamp(sb.now()))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)


class SandboxServer:
    """Serves `sandbox` on `host:port` (port 0 picks a free one); `url` is the base URL."""

    def __init__(
        self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False
    ) -> None:
        self.sandbox = sandbox
        self.httpd = _Server((host, port), sandbox, verbose)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = str(self.httpd.server_address[0])
        if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - only formatting a URL
            host = "127.0.0.1"
        return f"http://{host}:{self.httpd.server_port}"

    def start(self) -> SandboxServer:
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.httpd.shutdown()
            self.thread.join(timeout=5)
            self.thread = None
        with self.httpd.connections_lock:
            open_connections = list(self.httpd.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.httpd.server_close()
        webhooks.close(self.sandbox)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
