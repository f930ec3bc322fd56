"""The metrics endpoint: ``GET /metrics`` over HTTP/1.1 (Prometheus text format 0.0.4), on the
event loop of a serving process or, in the supervisor of ``--workers N``, in a thread.

:func:`http_answer` is the whole protocol (sans-IO); the two servers only move bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("eir.metrics")


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def http_answer(request: bytes, body: Callable[[], bytes]) -> bytes:
    """The whole HTTP/1.1 answer to one request head (sans-IO, for the server below)."""
    line = request.split(b"\r\n", 1)[0].split()
    if len(line) != 3 or not line[2].startswith(b"HTTP/"):
        return _http(400, "Bad Request", b"bad request\n", "text/plain")
    method, target = line[0], line[1].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        return _http(405, "Method Not Allowed", b"GET /metrics\n", "text/plain")
    if target not in (b"/metrics", b"/"):
        return _http(404, "Not Found", b"GET /metrics\n", "text/plain")
    try:
        payload = body()
    except Exception:  # our bug: say so, keep serving
        log.exception("metrics: cannot render")
        return _http(500, "Internal Server Error", b"cannot render metrics\n", "text/plain")
    answer = _http(200, "OK", payload, CONTENT_TYPE)
    if method == b"HEAD":
        return answer[: answer.index(b"\r\n\r\n") + 4]
    return answer


def _http(code: int, reason: str, payload: bytes, kind: str) -> bytes:
    head = (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + payload


async def serve_metrics(
    host: str, port: int, body: Callable[[], bytes]
) -> tuple[asyncio.Server, int]:
    """``GET /metrics`` on host:port; returns the server and its real port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.write(http_answer(request, body))
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port, limit=16384)
    return server, server.sockets[0].getsockname()[1]


def serve_metrics_in_thread(host: str, port: int, body: Callable[[], bytes]) -> ThreadingHTTPServer:
    """``GET /metrics`` on host:port from a daemon thread (the supervisor has no event loop);
    the caller shuts the server down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            head = f"{self.command} {self.path} {self.request_version}\r\n\r\n".encode()
            self.wfile.write(http_answer(head, body))

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="eir-metrics", daemon=True).start()
    return server
