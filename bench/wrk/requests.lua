-- wrk script of bench/run: replays the requests of a file, counts wrong-looking answers, and
-- prints one machine-readable summary line.
--
-- BENCH_REQUESTS names the file: a count line, then per request a line "METHOD PATH LENGTH"
-- followed by LENGTH bytes of body and a newline. Every "{{SEQ}}" in a body becomes a token
-- unique to the run (for creates that need fresh codes). BENCH_AUTH is sent as the
-- Authorization header when set. A response counts as bad when its status is not 2xx or
-- its body holds a GraphQL "errors" member.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local function load(path)
  local f = assert(io.open(path, "rb"))
  local n = tonumber(f:read("*l"))
  local list = {}
  for i = 1, n do
    local head = f:read("*l")
    local method, p, len = head:match("^(%S+) (%S+) (%d+)$")
    local body = nil
    len = tonumber(len)
    if len > 0 then body = f:read(len) end
    f:read("*l")
    list[i] = { method = method, path = p, body = body }
  end
  f:close()
  return list
end

function init(args)
  bad = 0
  missing = 0
  local headers = { ["Content-Type"] = "application/json" }
  local auth = os.getenv("BENCH_AUTH")
  if auth and auth ~= "" then headers["Authorization"] = auth end
  nonce = os.getenv("BENCH_NONCE") or "0"
  local list = load(os.getenv("BENCH_REQUESTS"))
  reqs = {}
  dynamic = {}
  for i, r in ipairs(list) do
    if r.body and string.find(r.body, "{{SEQ}}", 1, true) then
      dynamic[i] = r
    else
      reqs[i] = wrk.format(r.method, r.path, headers, r.body)
    end
  end
  hdrs = headers
  count = #list
  -- threads start at different places of the list (setup has not seen them all yet)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  idx = math.floor((count / nthreads) * (tid - 1))
end

function request()
  idx = idx % count + 1
  local r = dynamic[idx]
  if r then
    counter = counter + 1
    local seq = nonce .. "t" .. tid .. "n" .. counter
    local body = string.gsub(r.body, "{{SEQ}}", seq)
    return wrk.format(r.method, r.path, hdrs, body)
  end
  return reqs[idx]
end

function response(status, headers, body)
  if status == 404 and body and string.find(body, '"code":"NOT_FOUND"', 1, true) then
    -- the REST answer for the unknown code among the cases; bench/run checks the count
    missing = missing + 1
  elseif status < 200 or status > 299 or (body and string.find(body, '"errors":%s*%[{')) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  local total_missing = 0
  for _, t in ipairs(threads) do
    total_bad = total_bad + (t:get("bad") or 0)
    total_missing = total_missing + (t:get("missing") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"bad":%d,' ..
    '"missing":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
    total_bad, total_missing))
end
