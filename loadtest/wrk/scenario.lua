-- The wrk script of every loadtest scenario (loadtest/runner/wrk.py starts wrk with it).
--   wrk ... -s scenario.lua URL                        a GET of URL
--   wrk ... -s scenario.lua URL -- post BYTES TYPE     a POST of BYTES bytes with Content-Type TYPE
--   wrk ... -s scenario.lua URL -- pipeline N          N requests per write (TechEmpower plaintext:
--                                                      N = 16); wrk counts every response, but
--                                                      records one latency per batch of N
-- Adds no per-request Lua (no response callback; with pipeline, one request() call per batch),
-- so wrk runs at full speed. At the end
-- it prints one line "LOADTEST_JSON {...}" with the exact counts and latency percentiles in
-- microseconds, which the runner reads instead of wrk's rounded text.

-- The POST body: the same bytes the runner's smoke check sends (16 characters, repeated).
local function body_of(bytes)
  local pattern = "0123456789abcdef"
  return string.rep(pattern, math.ceil(bytes / #pattern)):sub(1, bytes)
end

function init(args)
  if args[1] == "post" then
    wrk.method = "POST"
    wrk.body = body_of(tonumber(args[2]))
    wrk.headers["Content-Type"] = args[3] or "application/octet-stream"
  elseif args[1] == "pipeline" then
    -- wrk reads the batch size off the buffer request() returns (it counts the requests in it),
    -- and writes the whole buffer at once.
    local batch = string.rep(wrk.format(), tonumber(args[2]))
    request = function() return batch end
  end
end

-- wrk corrects its latencies for coordinated omission with an interval of run time ÷ (responses
-- per connection); with pipelining that interval is the batch's, 16 times too short, and the
-- correction adds samples below the smallest one recorded, where percentile() never looks: past
-- the share of samples it can see it returns 0 (p99 = 0 in the pipelined scenario). So the
-- percentiles are taken over the samples it sees: p% of them is percentile(p × their share).
local function seen_share(latency)
  local lo, hi = 0, 100
  for _ = 1, 40 do
    local mid = (lo + hi) / 2
    if latency:percentile(mid) ~= 0 then lo = mid else hi = mid end
  end
  return lo
end

function done(summary, latency, requests)
  local e = summary.errors
  local share = seen_share(latency) / 100
  local function at(p) return latency:percentile(p * share) end
  io.write(string.format(
    'LOADTEST_JSON {"requests":%d,"bytes":%d,"duration_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%.0f,"mean":%.1f,"max":%.0f,"stdev":%.1f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f}}\n',
    summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev,
    at(50), at(90), at(99), at(99.9)))
end
