-- wrk script of bench/run: one case, the same for tokend and nginx.
--
-- Environment:
--   BENCH_METHOD   GET, POST, ...                       (default GET)
--   BENCH_PATH     request target                       (default /)
--   BENCH_VARIANTS file with one request variant a line: "Header: value", or
--                  "Header: value<TAB>body", or "<TAB>body"; the requests
--                  rotate over the lines (many tokens, several sessions...)
--   BENCH_EXPECT   the status that counts as success     (default 200)
--
-- Every response is checked: one with another status is an error. done()
-- prints one line that bench/run parses:
--   BENCH requests=N duration_us=N p50_us=N p99_us=N ok=N bad=N socket_errors=N

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local variants_file = os.getenv("BENCH_VARIANTS")
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local requests = {}
local next_index = 1
ok = 0
bad = 0

function init(args)
  local lines = {}
  if variants_file and variants_file ~= "" then
    for line in io.lines(variants_file) do
      if line ~= "" then table.insert(lines, line) end
    end
  end
  if #lines == 0 then lines = { "" } end
  for _, line in ipairs(lines) do
    local header, body = line:match("^([^\t]*)\t(.*)$")
    if not header then header, body = line, nil end
    local headers = {}
    local name, value = header:match("^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
    if body and body ~= "" then headers["Content-Type"] = "application/json" end
    if body == "" then body = nil end
    table.insert(requests, wrk.format(method, path, headers, body))
  end
  -- Threads start at different places in the rotation, so they do not send
  -- the same token at the same moment.
  next_index = (id * 7919) % #requests + 1
end

function request()
  local r = requests[next_index]
  next_index = next_index + 1
  if next_index > #requests then next_index = 1 end
  return r
end

function response(status, headers, body)
  if status == expect then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local good, wrong = 0, 0
  for _, t in ipairs(threads) do
    good = good + t:get("ok")
    wrong = wrong + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d ok=%d bad=%d socket_errors=%d\n",
                         summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
                         good, wrong, e.connect + e.read + e.write + e.timeout))
end
