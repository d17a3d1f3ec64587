-- post.lua — wrk script for bench/gateway.sh: POSTs the JSON file named by $BODY_FILE, prints one JSON summary line.
local BODY_FILE = os.getenv("BODY_FILE")

local f = assert(io.open(assert(BODY_FILE, "set BODY_FILE to the request body"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
wrk.headers["Content-Type"] = "application/json"
f:close()

-- Runs once after the run; latency values are microseconds. wrk counts a non-2xx/3xx answer
-- in errors.status; a broken or refused connection in connect/read/write; timeout separately.
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        '{"requests":%d,"duration_us":%d,"rps":%.1f,"connect_errors":%d,"read_errors":%d,' ..
        '"write_errors":%d,"non2xx":%d,"timeouts":%d,"p50_us":%.1f,"p99_us":%.1f,"max_us":%.1f}\n',
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(99), latency.max))
end
