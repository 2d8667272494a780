"""What a right answer is, for each request the soak makes.

Each function returns None when the answer is right, else a short message
saying what was wrong (never a token or cookie: the messages end up in the
report).
"""

import datetime
import re

TOKEN_RE = re.compile(r"^[0-9a-f]{256}$")
DAY_MS = 86_400_000


def is_busy(resp):
    """The one 5xx the soak accepts: 503 server_busy with Retry-After, tokend's documented overload answer."""
    return resp.status == 503 and resp.error_code() == "server_busy" and "retry-after" in resp.headers


def expect_error(resp, status, code):
    if resp.status != status or resp.error_code() != code:
        return f"expected {status} {code}, got {resp.describe()}"
    if resp.headers.get("content-type", "").split(";")[0] != "application/json":
        return f"{status} {code} without Content-Type: application/json"
    return None


def parse_time_ms(text):
    """Milliseconds since the epoch of "2027-02-27T17:32:03.582Z", or None."""
    if not isinstance(text, str) or not re.fullmatch(r"\d{4,9}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text):
        return None
    if len(text) > 24:
        return None  # the "never expires" date; the soak always asks for expiring tokens
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(dt.timestamp() * 1000)


def check_issued(resp, lifetime_days, sent_ms):
    """An answer that issues a token. Returns (token or None, problem or None)."""
    if resp.status != 200:
        return None, f"expected 200, got {resp.describe()}"
    j = resp.json()
    if not isinstance(j, dict) or set(j) != {"token", "expiresOn"}:
        return None, f"answer is not {{token, expiresOn}}: {resp.body[:80]!r}"
    token = j["token"]
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        return None, "the token is not 256 lower-case hex characters"
    expires = parse_time_ms(j["expiresOn"])
    if expires is None:
        return None, f"bad expiresOn {j['expiresOn']!r}"
    want = sent_ms + lifetime_days * DAY_MS
    # The server's clock is the machine's: the answer was made between the
    # request's sending and now, give or take a minute of slack.
    if abs(expires - want) > 60_000:
        return None, f"expiresOn {j['expiresOn']} is not {lifetime_days} days from now"
    if resp.headers.get("cache-control") != "no-store":
        return None, "a token answer without Cache-Control: no-store"
    return token, None


def check_user(resp, token):
    """GET /api/user for a live token: the token's account and the token's own id, source and name."""
    if resp.status != 200:
        return f"live token of {token.user.name} (id {token.id}): expected 200, got {resp.describe()}"
    j = resp.json()
    if not isinstance(j, dict):
        return f"GET /api/user answer is not a JSON object: {resp.body[:80]!r}"
    t = j.get("token") if isinstance(j.get("token"), dict) else {}
    got = (j.get("username"), j.get("id"), j.get("authenticatedWith"), t.get("name"))
    want = (token.user.name, token.user.id, token.source, token.name)
    if got != want:
        return f"GET /api/user answered {got} for a token of {want}"
    if token.id is not None and t.get("id") != token.id:
        return f"GET /api/user answered token id {t.get('id')} for token {token.id}"
    if not isinstance(t.get("id"), int):
        return "GET /api/user answered no token id"
    return None


def scan_log(path, secrets):
    """tokend's log: (lines at level error or critical, lines that hold a secret).

    A secret is a password of the soak's accounts (or the "wrong-" prefix of
    its wrong ones) or a session cookie value, or any run of 32 or more hex
    digits (tokens are 256, cookies 64, their digests 64: none belongs in a log).
    """
    bad, leaks = [], []
    hexrun = re.compile(r"[0-9a-fA-F]{32,}")
    try:
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.split(" ", 2)
                if len(parts) > 1 and parts[1] in ("error", "critical"):
                    bad.append(line.rstrip()[:200])
                if hexrun.search(line) or any(x in line for x in secrets):
                    leaks.append(" ".join(parts[:2]))  # time and level only: never the secret itself
    except FileNotFoundError:
        bad.append("no log file")
    return bad, leaks
