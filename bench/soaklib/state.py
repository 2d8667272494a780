"""What the soak's clients share: the accounts, the tokens they hold, the counts.

Everything runs on one asyncio thread, so nothing here needs a lock.
"""

import asyncio
import collections
import random

# Kinds of traffic, in the order the report lists them.
KINDS = ("validate", "exchange", "userpass", "revoke", "refuse", "badinput", "throttle", "slow", "partial", "idle")

# What a kind checks, for the report's list of checks.
KIND_CHECKS = {
    "validate": "GET /api/user with a live token: 200 and the token's own account, source, id and name",
    "exchange": "POST /api/token with a session cookie: 200, a 256-hex token that validates at once, the asked expiry",
    "userpass": "POST /api/authenticate/userpass with the right password: 200 and a token that validates at once",
    "revoke": "DELETE /api/tokens/{id}: 204 for the owner; 404 again or for another account, whose token keeps working",
    "refuse": "GET /api/user with a revoked or a never-issued token: 401 unauthenticated",
    "badinput": "malformed JSON and forms, oversized bodies, garbage HTTP, huge heads, bad tokens, "
                "foreign Origin: the documented 4xx and error code, and a close where documented",
    "throttle": "wrong passwords for one account: 401, then 429 with Retry-After; never more 401s than the limit",
    "slow": "a validation sent in small pieces over about 1.5 s: answered like a fast one",
    "partial": "a request head that stops halfway: closed without an answer within limits.read_timeout_ms",
    "idle": "connections that never send a byte: closed by the server within limits.idle_timeout_ms",
}


class User:
    def __init__(self, name, password):
        self.name = name
        self.password = password
        self.id = None  # the account id, from POST /api/login
        self.cookie = None  # "tokend_session=<hex>"


class Token:
    __slots__ = ("value", "id", "user", "source", "name", "busy", "state")

    def __init__(self, value, tid, user, source, name):
        self.value = value
        self.id = tid
        self.user = user
        self.source = source
        self.name = name
        self.busy = 0  # requests in flight that expect it to be live
        self.state = "live"  # live -> retiring (queued for DELETE) -> revoked


class Pool:
    """Live tokens per account, capped: past the cap the oldest idle token is revoked.

    A token is handed to a request only while live, and retired only when no
    request holds it, so that a validation never races its own token's
    revocation: a 401 for a live token is then always tokend's fault.
    """

    def __init__(self, users, cap):
        self.live = {u.name: collections.deque() for u in users}
        self.cap = cap
        self.revoked = collections.deque(maxlen=512)
        self.to_revoke = asyncio.Queue()
        self.issued = 0
        self.revoked_total = 0

    def add(self, token):
        self.issued += 1
        q = self.live[token.user.name]
        q.append(token)
        if len(q) > self.cap:
            # The oldest one that no request holds (they are few: a handful
            # in flight among `cap`).
            for i, t in enumerate(q):
                if t.busy == 0:
                    del q[i]
                    t.state = "retiring"
                    self.to_revoke.put_nowait(t)
                    break

    def pick(self, user=None):
        """A live token (of `user` if given), marked busy; the caller must release() it. None if none."""
        names = [user.name] if user else list(self.live)
        random.shuffle(names)
        for n in names:
            q = self.live[n]
            if not q:
                continue
            t = q[random.randrange(len(q))]
            t.busy += 1
            return t
        return None

    @staticmethod
    def release(token):
        token.busy -= 1

    def live_count(self):
        return sum(len(q) for q in self.live.values())


class Stats:
    """Per kind: answers as expected, overload answers (503 server_busy), failures with examples."""

    MAX_EXAMPLES = 40

    def __init__(self):
        self.ok = collections.Counter()
        self.busy = collections.Counter()
        self.failed = collections.Counter()
        self.examples = []  # (seconds since start, kind, message)
        self.started = None

    def requests(self):
        return sum(self.ok.values()) + sum(self.busy.values()) + sum(self.failed.values())

    def record_ok(self, kind):
        self.ok[kind] += 1

    def record_busy(self, kind):
        self.busy[kind] += 1

    def record_fail(self, kind, message):
        self.failed[kind] += 1
        if len(self.examples) < self.MAX_EXAMPLES:
            t = asyncio.get_running_loop().time() - self.started if self.started else 0.0
            self.examples.append((t, kind, message))


class Budget:
    """The soak's bounds: a deadline and a total number of requests."""

    def __init__(self, seconds, max_requests):
        self.deadline = asyncio.get_running_loop().time() + seconds
        self.left = max_requests
        self.exhausted = False

    def take(self):
        if asyncio.get_running_loop().time() >= self.deadline:
            return False
        if self.left <= 0:
            self.exhausted = True
            return False
        self.left -= 1
        return True

    def over(self):
        return self.exhausted or asyncio.get_running_loop().time() >= self.deadline


class Pacer:
    """Spaces the requests of one kind at `rate` per second, shared by that kind's clients.

    A kind that falls behind (tokend or the machine slower than the rate)
    skips the missed slots rather than bursting to catch up.
    """

    def __init__(self, rate, budget):
        self.interval = 1.0 / rate
        self.budget = budget
        self.next = asyncio.get_running_loop().time()

    async def slot(self):
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.next < now - 1.0:
            self.next = now
        t = self.next
        self.next += self.interval
        if t > now:
            await asyncio.sleep(t - now)
        return self.budget.take()
