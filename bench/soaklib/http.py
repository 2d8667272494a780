"""A small HTTP/1.1 client over asyncio streams, for bench/soak.

Raw bytes in, a parsed answer out: the soak sends malformed and slow requests
that no ordinary client library would, and it must see exactly what the server
answers (status, headers, body, whether it closed the connection). Every read
has a deadline; every connection is to 127.0.0.1 only, from a chosen loopback
source address (so that tokend's per-address rules see the soak's hostile
clients apart from its legitimate ones).
"""

import asyncio
import json

HOST = "127.0.0.1"  # the only address the soak ever connects to
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class HttpError(Exception):
    """The connection failed: refused, reset, closed early, timed out, or an answer that is not HTTP."""


class Response:
    def __init__(self, status, headers, body, closed):
        self.status = status
        self.headers = headers  # lower-case name -> value (repeated headers joined with ", ")
        self.body = body
        self.closed = closed  # the server said Connection: close

    def json(self):
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error_code(self):
        j = self.json()
        return j.get("error") if isinstance(j, dict) else None

    def describe(self):
        text = self.body[:200].decode("utf-8", "replace")
        return f"{self.status} {text}"


def build(method, path, headers=(), body=b"", close=False):
    """Request bytes: request line, Host, the given headers, Content-Length when there is a body."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method in ("POST", "PUT", "DELETE"):
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader, timeout):
    """Reads one answer (head and Content-Length body). Raises HttpError on EOF, timeout or garbage."""
    try:
        async with asyncio.timeout(timeout):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as e:
                raise HttpError("connection closed before an answer" if not e.partial else "answer cut short") from None
            except asyncio.LimitOverrunError:
                raise HttpError("answer head too large") from None
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise HttpError(f"not an HTTP status line: {lines[0][:80]!r}")
            headers = {}
            for line in lines[1:]:
                if not line:
                    continue
                name, sep, value = line.partition(":")
                if not sep:
                    raise HttpError(f"bad header line {line[:80]!r}")
                name = name.strip().lower()
                value = value.strip()
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            if "transfer-encoding" in headers:
                raise HttpError("chunked answers are not expected from tokend")
            length = int(headers.get("content-length", "0"))
            if length < 0 or length > MAX_BODY:
                raise HttpError(f"bad Content-Length {length}")
            try:
                body = await reader.readexactly(length) if length else b""
            except asyncio.IncompleteReadError:
                raise HttpError("body cut short") from None
    except TimeoutError:
        raise HttpError(f"no answer within {timeout:g} s") from None
    closed = "close" in headers.get("connection", "").lower()
    return Response(int(parts[1]), headers, body, closed)


async def wait_closed_by_peer(reader, timeout):
    """Waits for the server to close. Returns (closed, extra bytes received before the close)."""
    extra = b""
    try:
        async with asyncio.timeout(timeout):
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    return True, extra
                extra += chunk
                if len(extra) > MAX_HEAD:
                    return False, extra
    except TimeoutError:
        return False, extra
    except (ConnectionError, OSError):
        return True, extra  # a reset is a close too


async def open_connection(port, source, timeout=10.0):
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.open_connection(HOST, port, local_addr=(source, 0), limit=MAX_HEAD)
    except TimeoutError:
        raise HttpError("connect timed out") from None
    except OSError as e:
        raise HttpError(f"connect failed: {e}") from None


def close_writer(writer):
    if writer is not None:
        try:
            writer.transport.abort()
        except Exception:  # noqa: BLE001 - closing an already-broken transport
            pass


class Connection:
    """One keep-alive connection, reopened when the server closed it or it sat idle too long.

    A connection left unused for `max_idle` seconds is reopened before the next
    request, so that tokend's idle timeout never races a request of the soak's
    own legitimate clients (a request on a connection the server is closing
    would fail for the client's fault, not the server's).
    """

    def __init__(self, port, source, max_idle):
        self.port = port
        self.source = source
        self.max_idle = max_idle
        self.reader = None
        self.writer = None
        self.last_used = 0.0
        self.opened = 0  # connections opened over its life

    def close(self):
        close_writer(self.writer)
        self.reader = self.writer = None

    async def roundtrip(self, data, timeout=10.0):
        loop = asyncio.get_running_loop()
        if self.writer is not None and loop.time() - self.last_used > self.max_idle:
            self.close()
        if self.writer is None:
            self.reader, self.writer = await open_connection(self.port, self.source)
            self.opened += 1
        try:
            self.writer.write(data)
            await self.writer.drain()
            resp = await read_response(self.reader, timeout)
        except (ConnectionError, OSError) as e:
            self.close()
            raise HttpError(f"socket error: {e}") from None
        except HttpError:
            self.close()
            raise
        self.last_used = loop.time()
        if resp.closed:
            self.close()
        return resp
