-- wrk script of bench/run's revoking case: the other client, which revokes
-- tokens continuously while the validating wrk runs.
--
-- Environment:
--   BENCH_COOKIE   "tokend_session=..." of the account that mints and revokes
--
-- Each connection alternates: POST /api/token with the session cookie (a new
-- token, 200), then DELETE /api/token with that token (it revokes itself,
-- 204). Any other status is an error. done() prints one line bench/run parses:
--   REVOKER requests=N minted=N revoked=N bad=N socket_errors=N

local cookie = os.getenv("BENCH_COOKIE") or ""

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local pending = {}
minted = 0
revoked = 0
bad = 0

function request()
  local token = table.remove(pending)
  if token then
    return wrk.format("DELETE", "/api/token", { ["Authorization"] = "Bearer " .. token })
  end
  return wrk.format("POST", "/api/token", { ["Cookie"] = cookie })
end

function response(status, headers, body)
  if status == 200 then
    local token = body:match('"token":"(%x+)"')
    if token then
      minted = minted + 1
      table.insert(pending, token)
    else
      bad = bad + 1
    end
  elseif status == 204 then
    revoked = revoked + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local m, r, b = 0, 0, 0
  for _, t in ipairs(threads) do
    m = m + t:get("minted")
    r = r + t:get("revoked")
    b = b + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format("REVOKER requests=%d minted=%d revoked=%d bad=%d socket_errors=%d\n", summary.requests, m, r,
                         b, e.connect + e.read + e.write + e.timeout))
end
