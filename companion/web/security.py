"""Who may use the caregiver's page, and what every response says about itself.

* **Private by default.** ``companion serve`` listens on 127.0.0.1. A request is this
  machine's own only when it comes from a loopback address *and* names a loopback host
  (``127.0.0.1``, ``localhost``, ``[::1]``): a web page that points its own name at
  127.0.0.1 (DNS rebinding) is not trusted. Anything else is refused.
* **--lan** opens it to the local network behind a pairing code (six digits, shown on the
  companion's terminal and said aloud). A phone or tablet types it once; it then holds a
  session cookie (HttpOnly, SameSite=Strict). Wrong codes are limited to
  :data:`PAIR_TRIES` a minute for the whole server. There is no ``--lan`` without a code:
  :class:`Guard` cannot be made that way.
* **Every POST** must carry the visitor's CSRF token (a hidden field in every form, bound
  to the session cookie by an HMAC), must not be cross-site (``Sec-Fetch-Site``) and, when
  the browser names its ``Origin``, come from this very origin (Chromium sends ``Origin: null`` for
  a form under ``Referrer-Policy: no-referrer``; then Sec-Fetch-Site and the token decide). Only small URL-encoded
  forms are accepted, and only GET, HEAD and POST.
* **Every response** says: a Content-Security-Policy with no inline script or style and no
  framing, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``, ``nosniff``,
  ``Cache-Control: no-store`` (it is health data) and a closed ``Permissions-Policy``.
  A route may send its own stricter CSP (the report does: its one inline style by hash).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "companion_session"
CSRF_FIELD = "csrf"
MAX_FORM_BYTES = 64 * 1024
PAIR_TRIES = 5  # wrong pairing codes allowed per PAIR_WINDOW, for the whole server
PAIR_WINDOW = 60.0
MAX_VISITORS = 500  # unpaired visitors beyond this are forgotten, oldest first
CODE_DIGITS = 6
OPEN_PATHS = ("/pair", "/static/")  # what a device that has not paired yet may see

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
LOOPBACK_NAMES = ("localhost",)


def pairing_code() -> str:
    """A fresh six-digit code, from the operating system's random source."""
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def spoken_code(code: str) -> str:
    """The code as it is said aloud: one digit at a time ("4, 8, 1, 5, 0, 2")."""
    return ", ".join(code)


def is_loopback_address(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port: "[::1]:8765" -> "::1", "localhost:80" -> "localhost"."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def is_loopback_host(host_header: str) -> bool:
    name = host_name(host_header)
    return name in LOOPBACK_NAMES or is_loopback_address(name)


@dataclass
class Visitor:
    """One browser: its cookie's token, and whether it may use the page (this machine's own, or paired)."""

    token: str
    local: bool = False
    paired: bool = False

    @property
    def allowed(self) -> bool:
        return self.local or self.paired


class Guard:
    """The server's secrets: the pairing code, the visitors' sessions and the key of their CSRF tokens."""

    def __init__(self, lan: bool = False, code: str | None = None, clock: Callable[[], float] = time.monotonic):
        if lan and not (code and code.isdigit() and len(code) >= CODE_DIGITS):
            raise ValueError("--lan needs a pairing code of at least six digits; the page is never open to the "
                             "network without one")
        self.lan = lan
        self.code = code if lan else None
        self._key = secrets.token_bytes(32)
        self._visitors: OrderedDict[str, Visitor] = OrderedDict()
        self._failures: deque[float] = deque()
        self._clock = clock

    # -- visitors ---------------------------------------------------------------------

    def visitor(self, token: str | None) -> Visitor | None:
        return self._visitors.get(token) if token else None

    def new_visitor(self, local: bool = False, paired: bool = False) -> Visitor:
        visitor = Visitor(secrets.token_urlsafe(32), local=local, paired=paired)
        self._visitors[visitor.token] = visitor
        while len(self._visitors) > MAX_VISITORS:
            oldest = next((t for t, v in self._visitors.items() if not v.allowed), None)
            if oldest is None:
                break
            del self._visitors[oldest]
        return visitor

    def csrf(self, visitor: Visitor) -> str:
        """The visitor's CSRF token: an HMAC of its cookie, so it is never stored and cannot be guessed."""
        return hmac.new(self._key, visitor.token.encode("ascii"), hashlib.sha256).hexdigest()

    def csrf_ok(self, visitor: Visitor | None, token: str | None) -> bool:
        return visitor is not None and token is not None and hmac.compare_digest(self.csrf(visitor), token)

    # -- pairing ----------------------------------------------------------------------

    def pair(self, visitor: Visitor, code: str) -> Visitor | str:
        """A new, paired visitor (its old cookie is forgotten), or why not."""
        now = self._clock()
        while self._failures and now - self._failures[0] > PAIR_WINDOW:
            self._failures.popleft()
        if len(self._failures) >= PAIR_TRIES:
            return "Too many wrong codes. Wait a minute, then try again."
        typed = "".join(ch for ch in code if ch.isdigit())
        if self.code is None or not hmac.compare_digest(typed.encode(), self.code.encode()):
            self._failures.append(now)
            return "That is not the code. Look at the companion's screen, or listen for it, and try again."
        self._visitors.pop(visitor.token, None)
        return self.new_visitor(paired=True)


def cookie_header(token: str) -> tuple[bytes, bytes]:
    """The Set-Cookie header for a visitor: HttpOnly, SameSite=Strict, the whole site, for this browser session."""
    return b"set-cookie", f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict".encode("ascii")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(headers: dict[str, str]) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed cookie header is no cookie
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


async def _plain(send: Send, status: int, title: str, text: str, extra: list[tuple[bytes, bytes]] = ()) -> None:
    """A small page for a refusal (the security headers are added on the way out)."""
    body = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(text)}</p></main></body></html>").encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())] + list(extra)})
    await send({"type": "http.response.body", "body": body})


class Protect:
    """ASGI middleware: who may come in, CSRF on every POST, and the security headers on every response."""

    def __init__(self, app: ASGIApp, guard: Guard):
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guard = self.guard
        headers = _headers(scope)
        extra: list[tuple[bytes, bytes]] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.decode("latin-1").lower() for k, _ in message.get("headers", [])}
                added = [(k.encode(), v.encode()) for k, v in HEADERS.items() if k not in present]
                message = {**message, "headers": list(message.get("headers", [])) + added + extra}
            await send(message)

        method = scope["method"]
        if method not in ("GET", "HEAD", "POST"):
            await _plain(send_with_headers, 405, "Not allowed", "This page only reads and sends forms.",
                         [(b"allow", b"GET, HEAD, POST")])
            return
        client = (scope.get("client") or (None, None))[0]
        local = is_loopback_address(client) and is_loopback_host(headers.get("host", ""))
        visitor = guard.visitor(_cookie(headers))
        known = visitor is not None  # a cookie this server issued before this request
        if visitor is None or not visitor.allowed:
            if local:
                visitor = guard.new_visitor(local=True)
                extra.append(cookie_header(visitor.token))
            elif not guard.lan:
                await _plain(send_with_headers, 403, "Only on this computer",
                             "The caregiver's page is open only on the computer that runs the companion. "
                             "To use it from a phone or tablet, start it there with: companion serve --lan")
                return
            else:
                if visitor is None:
                    visitor = guard.new_visitor()
                    extra.append(cookie_header(visitor.token))
                path = scope.get("path", "/")
                if not (path == OPEN_PATHS[0] or path.startswith(OPEN_PATHS[1])):
                    if method == "POST":
                        await _plain(send_with_headers, 403, "Pair this device first",
                                     "Open the page again and type the pairing code shown on the companion.")
                    else:
                        await send_with_headers({"type": "http.response.start", "status": 303,
                                                 "headers": [(b"location", b"/pair"), (b"content-length", b"0")]})
                        await send_with_headers({"type": "http.response.body", "body": b""})
                    return
        scope["companion.visitor"] = visitor
        scope["companion.csrf"] = guard.csrf(visitor)
        if method == "POST":
            problem = self._cross_site(headers)
            body = b""
            if problem is None:
                if not known:
                    problem = "This form came without the page's cookie. Open the page again and send it from there."
                elif not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                    problem = "Only the page's own forms can be sent."
            if problem is None:
                body, too_big = await _read_body(receive)
                if too_big:
                    await _plain(send_with_headers, 413, "Too much", "That form is too large.")
                    return
                fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                token = (fields.get(CSRF_FIELD) or [None])[0]
                if not guard.csrf_ok(visitor, token):
                    problem = "This form is out of date or did not come from this page. Open the page again."
            if problem is not None:
                await _plain(send_with_headers, 403, "Refused", problem)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _cross_site(headers: dict[str, str]) -> str | None:
        """Why a POST looks cross-site, or None: the browser's own Sec-Fetch-Site and Origin say so."""
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return "A form from another site cannot change anything here."
        origin = headers.get("origin")
        host = headers.get("host", "")
        # "null": the browser hides the origin because of Referrer-Policy: no-referrer (Chromium does, for
        # forms); Sec-Fetch-Site above and the token below still have to agree.
        if origin not in (None, "null", f"http://{host}", f"https://{host}"):
            return "A form from another site cannot change anything here."
        return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body, False
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            return b"", True
        if not message.get("more_body", False):
            return body, False


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the already read body to the app, then whatever comes after (a disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
