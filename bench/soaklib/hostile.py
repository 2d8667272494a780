"""The soak's hostile and broken clients: bad input, wrong passwords, slow,
stalled and idle connections. Each expects exactly the answer docs/api.md
documents for what it sends.
"""

import asyncio
import os
import random

from . import checks
from .http import HttpError, build, close_writer, open_connection, read_response, wait_closed_by_peer
from .workload import HOSTILE, SLOW

USERPASS = "/api/authenticate/userpass"


def _json_post(body, path=USERPASS):
    return build("POST", path, [("Content-Type", "application/json")], body)


def _chunked_oversized():
    head = f"POST {USERPASS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" \
           "Transfer-Encoding: chunked\r\n\r\n"
    chunk = b"1000\r\n" + b"a" * 4096 + b"\r\n"
    return head.encode() + chunk * 17 + b"0\r\n\r\n"  # 68 KiB > 64 KiB


# (name, request bytes from the workload, status, error code, the server closes the connection)
# The ones that do not close are sent on one keep-alive connection, which must
# stay usable after each of them.
BAD_INPUTS = (
    ("garbage bytes", lambda w: os.urandom(random.randint(8, 200)) + b"\r\n\r\n", 400, "bad_request", True),
    ("header line without a colon", lambda w: b"GET /api/user HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", 400,
     "bad_request", True),
    ("absolute-form target", lambda w: b"GET http://127.0.0.1/api/user HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400,
     "bad_request", True),
    ("Content-Length past the body limit", lambda w: (
        f"POST {USERPASS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 70000\r\n\r\n").encode(), 413, "payload_too_large", True),
    ("chunked body past the body limit", lambda w: _chunked_oversized(), 413, "payload_too_large", True),
    ("9 KiB header", lambda w: build("GET", "/api/user", [("X-Filler", "a" * 9216)]), 431, "headers_too_large",
     True),
    ("malformed JSON", lambda w: _json_post(b'{"username": "soak1", "password": '), 400, "invalid_json", False),
    ("JSON that is not an object", lambda w: _json_post(b'["soak1", "x"]'), 400, "invalid_body", False),
    ("JSON with a non-string password", lambda w: _json_post(b'{"username":"soak1","password":12345678}'), 400,
     "invalid_field", False),
    ("missing password", lambda w: _json_post(b'{"username":"soak1"}'), 400, "missing_field", False),
    ("bad percent-encoding", lambda w: build("POST", USERPASS, [("Content-Type", "application/x-www-form-urlencoded")],
                                             b"username=soak1&password=%zz"), 400, "invalid_form", False),
    ("text/plain body", lambda w: build("POST", USERPASS, [("Content-Type", "text/plain")], b"username=soak1"), 415,
     "unsupported_media_type", False),
    ("password past passwords.max_bytes", lambda w: _json_post(
        b'{"username":"soak1","password":"' + b"p" * 2000 + b'"}'), 400, "password_too_long", False),
    ("malformed bearer token", lambda w: build("GET", "/api/user", [("Authorization", "Bearer " + "z" * 256)]), 401,
     "unauthenticated", False),
    ("token exchange without a cookie", lambda w: build("POST", "/api/token"), 401, "unauthenticated", False),
    ("token exchange from a foreign Origin", lambda w: build("POST", "/api/token", [
        ("Cookie", w.users[0].cookie), ("Origin", "https://evil.example")]), 403, "forbidden_origin", False),
    ("unknown path", lambda w: build("GET", "/api/nothing-here"), 404, "not_found", False),
    ("unknown method for the path", lambda w: build("PUT", "/api/user"), 405, "method_not_allowed", False),
    ("unknown provider", lambda w: _json_post(b"{}", "/api/authenticate/nosuch"), 404, "unknown_provider", False),
)


async def badinput_client(w, pacer):
    keep = w.conn(HOSTILE)
    n = random.randrange(len(BAD_INPUTS))
    try:
        while await pacer.slot():
            n += 1
            name, make, status, code, closes = BAD_INPUTS[n % len(BAD_INPUTS)]
            data = make(w)
            try:
                if closes:
                    await _bad_closing(w, name, data, status, code)
                else:
                    resp = await keep.roundtrip(data)
                    problem = checks.expect_error(resp, status, code)
                    if not problem and resp.closed:
                        problem = f"{status} {code} closed the connection"
                    w.judge("badinput", resp, problem and f"{name}: {problem}")
            except HttpError as e:
                w.fail("badinput", f"{name}: {e}")
    finally:
        keep.close()


async def _bad_closing(w, name, data, status, code):
    reader, writer = await open_connection(w.port, HOSTILE)
    try:
        try:
            writer.write(data)
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the server may answer and close before it read everything: the answer is what counts
        try:
            resp = await read_response(reader, 10.0)
        except (ConnectionError, OSError) as e:
            raise HttpError(f"socket error before the answer: {e}") from None
        problem = checks.expect_error(resp, status, code)
        if not problem:
            closed, extra = await wait_closed_by_peer(reader, 5.0)
            if not closed or extra:
                problem = f"{status} {code}: the connection stayed open"
        w.judge("badinput", resp, problem and f"{name}: {problem}")
    finally:
        close_writer(writer)


async def throttle_client(w, pacer):
    """Wrong passwords for the locked account, one at a time: 401 until the per-username limit, then 429."""
    conn = w.conn(HOSTILE)
    loop = asyncio.get_running_loop()
    try:
        while await pacer.slot():
            try:
                resp = await conn.roundtrip(w.login_request(w.locked, "wrong-" + os.urandom(4).hex(), False),
                                            timeout=30.0)
            except HttpError as e:
                w.fail("throttle", str(e))
                continue
            if resp.status == 401:
                w.throttle_401_times.append(loop.time())
                w.judge("throttle", resp, checks.expect_error(resp, 401, "invalid_credentials"))
            elif resp.status == 429:
                problem = checks.expect_error(resp, 429, "too_many_attempts")
                retry = resp.headers.get("retry-after", "")
                if not problem and not (retry.isdigit() and int(retry) > 0):
                    problem = f"429 with Retry-After {retry!r}"
                w.judge("throttle", resp, problem)
            else:
                w.judge("throttle", resp, f"a wrong password: expected 401 or 429, got {resp.describe()}")
    finally:
        conn.close()


def throttle_problem(w):
    """None if no sliding window ever held more 401s than throttle.per_username.max_failures, else what did."""
    limit, window = w.server["per_username_max"], w.server["per_username_window_s"]
    times = w.throttle_401_times
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        if i - j + 1 > limit:
            return f"{i - j + 1} wrong passwords got 401 within {window} s (limit {limit})"
    return None


async def slow_client(w, stop):
    """A validation sent a few bytes at a time over about 1.5 s, from a fresh connection."""
    while not stop.is_set() and w.budget.take():
        token = w.pool.pick()
        if token is None:
            await asyncio.sleep(0.1)
            continue
        try:
            data = build("GET", "/api/user", [("Authorization", f"Bearer {token.value}")], close=True)
            reader, writer = await open_connection(w.port, SLOW)
            try:
                # One byte at a time for the request line, then pieces of about
                # 20 bytes: some 40 writes, 35 ms apart.
                pieces = [data[i:i + 1] for i in range(24)]
                pieces += [data[i:i + 20] for i in range(24, len(data), 20)]
                for p in pieces:
                    writer.write(p)
                    await writer.drain()
                    await asyncio.sleep(0.035)
                resp = await read_response(reader, 10.0)
                w.judge("slow", resp, checks.check_user(resp, token))
            except (ConnectionError, OSError) as e:
                w.fail("slow", f"socket error: {e}")
            finally:
                close_writer(writer)
        except HttpError as e:
            w.fail("slow", str(e))
        finally:
            w.pool.release(token)


async def partial_client(w, stop):
    """Half a request head, then silence: the server must close within limits.read_timeout_ms, unanswered."""
    limit = w.server["read_timeout_s"] + 5.0
    loop = asyncio.get_running_loop()
    while not stop.is_set() and w.budget.take():
        try:
            reader, writer = await open_connection(w.port, SLOW)
        except HttpError as e:
            w.fail("partial", str(e))
            await asyncio.sleep(1.0)
            continue
        try:
            opened = loop.time()
            writer.write(b"GET /api/user HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer 0123")
            await writer.drain()
            closed, extra = await wait_closed_by_peer(reader, limit)
            if stop.is_set() and not closed:
                return
            if not closed:
                w.fail("partial", f"a stalled request was not closed within {limit:g} s")
            elif extra and not extra.startswith(b"HTTP/1.1 408"):
                w.fail("partial", f"a stalled request got {extra[:60]!r}")
            else:
                w.partial_close_seconds.append(loop.time() - opened)
                w.stats.record_ok("partial")
        except (ConnectionError, OSError) as e:
            w.fail("partial", f"socket error: {e}")
        finally:
            close_writer(writer)


async def idle_client(w, stop):
    """A connection that never sends a byte, reopened each time the server closes it."""
    limit = w.server["idle_timeout_s"] + 5.0
    loop = asyncio.get_running_loop()
    while not stop.is_set() and w.budget.take():
        try:
            reader, writer = await open_connection(w.port, SLOW)
        except HttpError as e:
            w.fail("idle", str(e))
            await asyncio.sleep(1.0)
            continue
        try:
            opened = loop.time()
            closed, extra = await wait_closed_by_peer(reader, limit)
            if stop.is_set() and not closed:
                return
            if not closed:
                w.fail("idle", f"an idle connection was not closed within {limit:g} s")
            elif extra:
                w.fail("idle", f"an idle connection got {extra[:60]!r}")
            else:
                w.idle_close_seconds.append(loop.time() - opened)
                w.stats.record_ok("idle")
        finally:
            close_writer(writer)
