"""The soak's clients: the legitimate traffic of validating services, browser
sessions and scripts, and alongside it hostile and broken clients.

Legitimate clients connect from 127.0.0.1; wrong passwords and bad input from
127.0.0.2; slow, stalled and idle connections from 127.0.0.3. tokend counts
its per-address rules (the throttle) by client address, so the hostile
clients' counts never spill onto the legitimate ones, as on a real network.
Every client sends to 127.0.0.1 only.
"""

import asyncio
import os
import random
import time

from . import checks
from .http import Connection, HttpError, build
from .state import Token

LEGIT = "127.0.0.1"
HOSTILE = "127.0.0.2"
SLOW = "127.0.0.3"


def now_ms():
    return int(time.time() * 1000)


class Workload:
    """All clients of one soak run. `settings` holds the rates and counts (see bench/soak --help)."""

    def __init__(self, port, users, locked_user, pool, stats, budget, settings, server):
        self.port = port
        self.users = users
        self.locked = locked_user  # the account that only ever gets wrong passwords
        self.pool = pool
        self.stats = stats
        self.budget = budget
        self.s = settings
        self.server = server  # tokend's settings: lifetime_days, read/idle timeouts, throttle
        self.max_idle = server["idle_timeout_s"] / 2  # reopen before tokend's idle timeout can race us
        self.throttle_401_times = []  # when the locked account's wrong passwords got 401
        self.idle_close_seconds = []  # how long idle connections stayed open
        self.partial_close_seconds = []
        self.minted = 0

    def conn(self, source):
        return Connection(self.port, source, self.max_idle)

    # ------------------------------------------------------------ helpers

    def fail(self, kind, message):
        self.stats.record_fail(kind, message)

    def judge(self, kind, resp, problem):
        """Records an answer: overload (503 server_busy) is counted apart, else ok or the problem."""
        if checks.is_busy(resp):
            self.stats.record_busy(kind)
        elif problem:
            self.fail(kind, problem)
        else:
            self.stats.record_ok(kind)

    async def adopt(self, conn, kind, value, user, source, name):
        """A token just issued: validated at once (it must already work) and added to the pool."""
        resp = await conn.roundtrip(build("GET", "/api/user", [("Authorization", f"Bearer {value}")]))
        if checks.is_busy(resp):
            self.stats.record_busy(kind)
            return
        token = Token(value, None, user, source, name)
        problem = checks.check_user(resp, token)
        if problem:
            self.fail(kind, "a new token: " + problem)
            return
        token.id = resp.json()["token"]["id"]
        self.stats.record_ok(kind)
        self.pool.add(token)

    # ------------------------------------------------------------ legitimate clients

    async def validate_client(self, pacer):
        conn = self.conn(LEGIT)
        try:
            while await pacer.slot():
                token = self.pool.pick()
                if token is None:
                    continue
                scheme = "token" if random.random() < 0.1 else "Bearer"
                try:
                    resp = await conn.roundtrip(build("GET", "/api/user", [("Authorization", f"{scheme} {token.value}")]))
                    self.judge("validate", resp, checks.check_user(resp, token))
                except HttpError as e:
                    self.fail("validate", str(e))
                finally:
                    self.pool.release(token)
        finally:
            conn.close()

    async def exchange_client(self, pacer):
        conn = self.conn(LEGIT)
        n = 0
        try:
            while await pacer.slot():
                n += 1
                await self.exchange_once(conn, random.choice(self.users), n)
        finally:
            conn.close()

    async def exchange_once(self, conn, user, n):
        days = random.choice((None, 1, 7, 30))
        name = f"soak-exchange-{n % 50}"
        headers = [("Cookie", user.cookie)]
        body = b""
        if days is not None and n % 2:
            headers.append(("Content-Type", "application/json"))
            body = f'{{"name":"{name}","expiresInDays":{days}}}'.encode()
        elif days is not None:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            body = f"name={name}&expiresInDays={days}".encode()
        else:
            name = "session"
        sent = now_ms()
        try:
            resp = await conn.roundtrip(build("POST", "/api/token", headers, body))
            if checks.is_busy(resp):
                self.stats.record_busy("exchange")
                return
            value, problem = checks.check_issued(resp, days or self.server["lifetime_days"], sent)
            if problem:
                self.fail("exchange", problem)
                return
            await self.adopt(conn, "exchange", value, user, "session", name)
        except HttpError as e:
            self.fail("exchange", str(e))

    async def seed(self, per_user):
        """Tokens for the validating clients to start with: `per_user` cookie exchanges per account."""
        conn = self.conn(LEGIT)
        try:
            for i in range(per_user):
                for u in self.users:
                    await self.exchange_once(conn, u, i)
        finally:
            conn.close()

    def login_request(self, user, password, form):
        if form:
            body = f"username={user.name}&password={password}&name=soak-userpass".encode()
            ctype = "application/x-www-form-urlencoded"
        else:
            body = f'{{"username":"{user.name}","password":"{password}","name":"soak-userpass"}}'.encode()
            ctype = "application/json"
        return build("POST", "/api/authenticate/userpass", [("Content-Type", ctype)], body)

    async def userpass_once(self, conn, n):
        user = random.choice(self.users)
        sent = now_ms()
        try:
            resp = await conn.roundtrip(self.login_request(user, user.password, n % 2), timeout=30.0)
            if checks.is_busy(resp):
                self.stats.record_busy("userpass")
                return
            value, problem = checks.check_issued(resp, self.server["lifetime_days"], sent)
            if problem:
                self.fail("userpass", problem)
                return
            await self.adopt(conn, "userpass", value, user, "userpass", "soak-userpass")
        except HttpError as e:
            self.fail("userpass", str(e))

    async def userpass_client(self, pacer):
        conn = self.conn(LEGIT)
        n = 0
        try:
            while await pacer.slot():
                n += 1
                await self.userpass_once(conn, n)
        finally:
            conn.close()

    async def userpass_burst(self, width):
        """`width` logins at once: every password-hash buffer of tokend's pool in use (done in the warm-up)."""
        conns = [self.conn(LEGIT) for _ in range(width)]
        try:
            await asyncio.gather(*(self.userpass_once(c, i) for i, c in enumerate(conns) if self.budget.take()))
        finally:
            for c in conns:
                c.close()

    async def revoke_client(self):
        """Revokes the tokens the pool retires, with the owner's other token or session cookie."""
        conn = self.conn(LEGIT)
        n = 0
        try:
            while not self.budget.over():
                try:
                    token = await asyncio.wait_for(self.pool.to_revoke.get(), timeout=0.5)
                except TimeoutError:
                    continue
                if not self.budget.take():
                    break
                n += 1
                try:
                    await self.revoke_one(conn, token, n)
                except HttpError as e:
                    self.fail("revoke", str(e))
        finally:
            conn.close()

    async def revoke_one(self, conn, token, n):
        path = f"/api/tokens/{token.id}"
        helper = self.pool.pick(user=token.user) if n % 3 else None
        auth = [("Authorization", f"Bearer {helper.value}")] if helper else [("Cookie", token.user.cookie)]
        try:
            resp = await conn.roundtrip(build("DELETE", path, auth))
        finally:
            if helper:
                self.pool.release(helper)
        if checks.is_busy(resp):
            self.stats.record_busy("revoke")
            token.state = "live"
            self.pool.to_revoke.put_nowait(token)  # try again later
            return
        if resp.status != 204:
            self.fail("revoke", f"DELETE of a live token: expected 204, got {resp.describe()}")
            return
        token.state = "revoked"
        self.pool.revoked.append(token)
        self.pool.revoked_total += 1
        self.stats.record_ok("revoke")
        if n % 10 == 0 and self.budget.take():
            # The same DELETE again: the token is gone, 404.
            resp = await conn.roundtrip(build("DELETE", path, [("Cookie", token.user.cookie)]))
            self.judge("revoke", resp, checks.expect_error(resp, 404, "not_found"))
        if n % 10 == 5 and len(self.users) > 1 and self.budget.take():
            # Another account's DELETE of a live token: 404, and the token keeps working.
            victim = self.pool.pick(user=token.user)
            other = next(u for u in self.users if u is not token.user)
            if victim is None:
                return
            try:
                resp = await conn.roundtrip(build("DELETE", f"/api/tokens/{victim.id}", [("Cookie", other.cookie)]))
                self.judge("revoke", resp, checks.expect_error(resp, 404, "not_found"))
                resp = await conn.roundtrip(build("GET", "/api/user", [("Authorization", f"Bearer {victim.value}")]))
                problem = checks.check_user(resp, victim)
                self.judge("revoke", resp, problem and "after another account's DELETE: " + problem)
            finally:
                self.pool.release(victim)

    async def refuse_client(self, pacer):
        """Revoked tokens and well-formed tokens that were never issued: both 401."""
        conn = self.conn(LEGIT)
        try:
            while await pacer.slot():
                revoked = self.pool.revoked
                if revoked and random.random() < 0.7:
                    value, what = random.choice(revoked).value, "a revoked token"
                else:
                    value, what = os.urandom(128).hex(), "a never-issued token"
                try:
                    resp = await conn.roundtrip(build("GET", "/api/user", [("Authorization", f"Bearer {value}")]))
                    problem = checks.expect_error(resp, 401, "unauthenticated")
                    self.judge("refuse", resp, problem and f"{what}: {problem}")
                except HttpError as e:
                    self.fail("refuse", str(e))
        finally:
            conn.close()
