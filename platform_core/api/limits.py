"""ASGI middleware that refuses request bodies over a byte limit with 413, and JSON nested
deeper than `MAX_JSON_DEPTH` with 422.

It checks `Content-Length` up front and also counts the bytes of a chunked body as they
arrive, so a client cannot get past the limit by leaving the header out.

The depth is checked before anything parses the body: the process's recursion limit is
raised to 100000 on import (by `py_ecc`, under eth-account), so the C JSON decoder no longer
stops a deep array with `RecursionError` and 64 KiB of `[` overflowed the C stack: the
process died (SIGSEGV) instead of answering.

`BodyDeadline` answers 408 when a request's body has not all arrived within a time of the
request reaching the app: a client that trickles its body (a byte a second) holds a
replica's connection and task that long at most, behind whichever ingress. Headers
trickled slowly never reach the app: the HAProxy ingress cuts them (`serve_ingress.py`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from platform_core.errors import ErrorCode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# Far deeper than any request of the API (an intent is 4 levels deep), far shallower than
# what a parser's stack can take.
MAX_JSON_DEPTH = 64
_OPEN, _CLOSE, _QUOTE, _ESCAPE = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


def _error_body(error: str, code: ErrorCode, message: str) -> bytes:
    detail = [{"field": None, "code": code, "message": message}]
    return json.dumps({"error": error, "reason_codes": [code], "detail": detail}).encode()


def _too_large_body(limit: int) -> bytes:
    code = ErrorCode.BODY_TOO_LARGE
    return _error_body(code.lower(), code, f"body over {limit} bytes")


class DepthScanner:
    """The nesting depth of a JSON text fed in chunks (brackets in strings do not count)."""

    def __init__(self) -> None:
        self.depth = 0
        self.deepest = 0
        self._in_string = False
        self._escaped = False

    def feed(self, chunk: bytes) -> int:
        for byte in chunk:
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif byte == _ESCAPE:
                    self._escaped = True
                elif byte == _QUOTE:
                    self._in_string = False
            elif byte == _QUOTE:
                self._in_string = True
            elif byte in _OPEN:
                self.depth += 1
                self.deepest = max(self.deepest, self.depth)
            elif byte in _CLOSE:
                self.depth -= 1
        return self.deepest


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await self._refuse(send)
                    return

        received = 0
        exceeded = False
        too_deep = False
        response_started = False
        depth = DepthScanner()

        async def counting_receive() -> Message:
            nonlocal received, exceeded, too_deep
            if exceeded or too_deep:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > self.max_bytes:
                    # Look like a client that went away: the app stops reading, and
                    # whatever it answers is replaced by our 413 below.
                    exceeded = True
                    return {"type": "http.disconnect"}
                if depth.feed(body) > MAX_JSON_DEPTH:
                    too_deep = True  # the same, answered 422 before anything parses it
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded or too_deep:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not (exceeded or too_deep):
                raise
        if response_started:
            return
        if exceeded:
            await self._refuse(send)
        elif too_deep:
            code = ErrorCode.JSON_TOO_DEEP
            message = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            await self._refuse(send, 422, _error_body("validation_failed", code, message))

    async def _refuse(self, send: Send, status: int = 413, body: bytes | None = None) -> None:
        body = _too_large_body(self.max_bytes) if body is None else body
        await _send_error(send, status, body)


async def _send_error(send: Send, status: int, body: bytes) -> None:
    """A JSON error answer that closes the connection (what is left of the request body is
    not read)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def request_timeout_body(timeout_s: float) -> bytes:
    """The 408 answer's body, here and at the HAProxy ingress (its `errorfile`)."""
    code = ErrorCode.REQUEST_TIMEOUT
    return _error_body(code.lower(), code, f"request not received within {timeout_s:g} s")


class BodyDeadline:
    """408 when the body has not all arrived `timeout_s` after the request reached the app.

    Each read of the body waits at most until the deadline; past it, the app is told the
    client went away (it stops reading, and whatever it answers is dropped) and the client
    gets 408. Reads after the body is complete (a streaming response listening for the
    client's disconnect) are not limited, nor are requests whose body is never read."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        body_done = False
        timed_out = False
        response_started = False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if timed_out:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), deadline - loop.time())
            except TimeoutError:
                timed_out = True
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if timed_out:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise
        if timed_out and not response_started:
            await _send_error(send, 408, request_timeout_body(self.timeout_s))
