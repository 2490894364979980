-- wrk script: POST /api/events with 10 unique events per request, one User-Agent per request
-- (the rate limit is per client), counting accepted requests across threads.
local run = os.getenv("BENCH_RUN") or "bench"
local threads = {}
n, accepted, other = 0, 0, 0

setup = function(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

request = function()
  n = n + 1
  local ts = os.time() * 1000
  local events = {}
  for k = 1, 10 do
    events[k] = string.format('{"v":1,"id":"%s-%d-%08d-%02d","name":"%s","ts":%d,"props":{"k":%d}}',
      run, tid, n, k, run, ts, k)
  end
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = string.format("pilot-gate-bench/%d/%d", tid, n),
  }
  return wrk.format("POST", "/api/events", headers, "[" .. table.concat(events, ",") .. "]")
end

response = function(status, headers, body)
  if status == 202 then accepted = accepted + 1 else other = other + 1 end
end

done = function(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    o = o + t:get("other")
  end
  io.write(string.format("beacon_accepted_requests=%d beacon_other_responses=%d\n", a, o))
end
