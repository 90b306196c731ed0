"""What every request passes before any route sees it (one pure-ASGI middleware):

1. the Host header names this server (a foreign name is DNS rebinding: a page elsewhere pointing its own name at
   127.0.0.1), else 400;
2. the token, when the server has one (`ketasim serve` prints it, as Jupyter does), from the `Authorization:
   Bearer` header, the `X-Ketasim-Token` header, the `token` query parameter (the printed URL; it sets a cookie and
   redirects) or that cookie (SameSite=Strict, so no other site's page can send it), else 401;
3. the request body is at most `max_body_bytes`, read with that bound before any parsing, else 413;
4. security headers on every answer: `nosniff`, no referrer, no framing by other sites, and on the dashboard page
   a Content-Security-Policy that lets it load only its own files.
"""

from __future__ import annotations

import hmac
import json
from urllib.parse import parse_qsl, urlencode

TOKEN_COOKIE = "ketasim_token"
# Paths anyone may fetch without the token: liveness, and the page's own static code (no data in either).
OPEN_PATHS = ("/api/health", "/static/", "/favicon.ico")
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def host_name(value: str) -> str:
    """'example.org:8765' -> 'example.org'; '[::1]:8765' -> '::1'; lower case."""
    v = value.strip().lower()
    if v.startswith("["):
        end = v.find("]")
        return v[1:end] if end > 0 else v
    if v.count(":") == 1:
        v = v.split(":", 1)[0]
    return v.rstrip(".")


class RequestGuard:
    def __init__(self, app, token: str | None = None, allowed_hosts=None, max_body_bytes: int = 262_144):
        self.app = app
        self.token = token or None
        self.allowed_hosts = None if allowed_hosts is None else {host_name(h) for h in allowed_hosts}
        self.max_body_bytes = int(max_body_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        send = self._with_headers(send, path)
        # 1. Host
        if self.allowed_hosts is not None:
            host = host_name(headers.get("host", ""))
            if host not in self.allowed_hosts:
                return await _json(send, 400, "this server does not answer for the host name in the request "
                                              f"(Host: {host[:60] or 'missing'}); open it by the address "
                                              "`ketasim serve` printed")
        # 2. token
        if self.token and not path.startswith(OPEN_PATHS):
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            given = _bearer(headers.get("authorization", "")) or headers.get("x-ketasim-token") or \
                query.get("token") or _cookie(headers.get("cookie", ""), TOKEN_COOKIE)
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                if path == "/" and scope.get("method") == "GET":
                    return await _html(send, 401, _LOGIN_PAGE)
                return await _json(send, 401, "this server needs its token: open the URL `ketasim serve` printed "
                                              "(…/?token=…), or send the header 'Authorization: Bearer TOKEN'")
            if "token" in query and path == "/" and scope.get("method") == "GET":
                # the printed URL: keep the token in a cookie and take it out of the address bar and history
                rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
                location = path + (f"?{rest}" if rest else "")
                cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                return await _raw(send, 303, b"", "text/plain", [(b"location", location.encode()),
                                                                  (b"set-cookie", cookie.encode())])
        # 3. body size, before anything parses it
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            declared = headers.get("content-length")
            if declared is not None:
                try:
                    if int(declared) > self.max_body_bytes:
                        return await self._too_large(send)
                except ValueError:
                    return await _json(send, 400, "the Content-Length header is not a number")
            body, more = bytearray(), True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.max_body_bytes:
                    return await self._too_large(send)
            replayed = False

            async def replay():
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}

            return await self.app(scope, replay, send)
        return await self.app(scope, receive, send)

    async def _too_large(self, send):
        return await _json(send, 413, f"the request body is larger than {self.max_body_bytes:,} bytes; a ketasim "
                                      f"request needs a few kB")

    @staticmethod
    def _with_headers(send, path: str):
        async def wrapped(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"x-frame-options", b"DENY")]
                if path == "/":
                    extra.append((b"content-security-policy", PAGE_CSP.encode()))
                message = {**message, "headers": list(message.get("headers", [])) +
                           [(k, v) for k, v in extra if k not in present]}
            await send(message)
        return wrapped


def _bearer(value: str) -> str | None:
    parts = value.split(None, 1)
    return parts[1].strip() if len(parts) == 2 and parts[0].lower() == "bearer" else None


def _cookie(value: str, name: str) -> str | None:
    for part in value.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


async def _raw(send, status: int, body: bytes, media: str, headers=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


async def _json(send, status: int, detail: str):
    await _raw(send, status, json.dumps({"detail": detail, "errors": []}).encode(), "application/json")


async def _html(send, status: int, text: str):
    await _raw(send, status, text.encode(), "text/html; charset=utf-8")


_LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ketasim: token needed</title>
</head><body><h1>ketasim dashboard</h1><p>This server needs its token. Open the address that
<code>ketasim serve</code> printed when it started (it ends in <code>/?token=…</code>).</p>
<p><strong>Research software, not dosing advice.</strong></p></body></html>"""
