#!/usr/bin/env bash
# cache.sh — what the response cache and the routing-decision cache buy, end to end through
# the gateway: the same ~1 KB chat request on four routes of one gateway in front of the
# mock upstream — `plain` (no cache), `cached` (route.cache: every request after the first
# is a hit, the upstream is not called), `policy` (a policy that reads req.text and counts
# tokens) and `decided` (the same policy with route.decision_cache and cache_key = the
# body's metadata.task). Rounds alternate the routes; prints medians of max throughput
# (closed loop) and of p50/p99 at a fixed open-loop rate, and the ratios.
#
# Usage: bench/cache.sh BUILD_DIR
# Environment: see bench/lib.sh; WORKERS [1] gateway worker threads (2: the memory cache's
# mutex is shared by both).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup cache "$@"
WORKERS=${WORKERS:-1}
bench_start_mock
port=$(bench_freeport)
cat > "$tmp/policy.lua" <<'EOF'
local sy = require "switchyard"
return {
  cache_key = function(req) return req.meta.task end,
  route = function(req)
    if #req.text > 2000 or req.tokens > 1500 then return sy.pick("large", "long") end
    return sy.chain{ "small", "large", reason = "short: cheap first" }
  end,
}
EOF
cat > "$tmp/config.lua" <<EOF
server { listen = "127.0.0.1:$port", workers = $WORKERS }
provider { id = "mock", kind = "openai", base_url = "http://127.0.0.1:$up/v1", timeout_ms = 5000 }
model { id = "small", provider = "mock", upstream = "mock", context_window = 128000, max_output = 4096 }
model { id = "large", provider = "mock", upstream = "mock", context_window = 128000, max_output = 4096 }
route { name = "plain", policy = "policy.lua", default = "small" }
route { name = "cached", policy = "policy.lua", default = "small", cache = true }
route { name = "policy", policy = "policy.lua", default = "small" }
route { name = "decided", policy = "policy.lua", default = "small", decision_cache = {} }
EOF
bench_spawn "$sy" serve --config "$tmp/config.lua" 2> "$tmp/gw.log"
bench_wait_healthy "$port"

text=$(python3 -c 'print(("Our order #4411 arrived with a cracked lid; the courier left it at the wrong door. " * 12).strip())')
for r in plain cached policy decided; do # each must answer 200 before anything is timed
    printf '{"model":"%s","max_tokens":256,"metadata":{"task":"refund"},"messages":[{"role":"system","content":"You are a support agent."},{"role":"user","content":"%s"}]}' \
        "$r" "$text" > "$tmp/$r.json"
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary @"$tmp/$r.json" "http://127.0.0.1:$port/v1/chat/completions")
    [ "$code" = 200 ] || { echo "cache.sh: route $r answered $code" >&2; exit 1; }
done
hit=$(curl -s -D - -o /dev/null -H 'content-type: application/json' --data-binary @"$tmp/cached.json" \
    "http://127.0.0.1:$port/v1/chat/completions" | tr -d '\r' | sed -n 's/^x-switchyard-cache: //p')
[ "$hit" = hit ] || { echo "cache.sh: the cached route answered '$hit', not a hit" >&2; exit 1; }

run() { # route, then sy-loadgen's load options
    local r=$1
    shift
    "$lg" --url "http://127.0.0.1:$port/v1/chat/completions" --body "$tmp/$r.json" \
        --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNS" "$@"
}
bench_rounds plain cached policy decided
mocked=$(curl -s "http://127.0.0.1:$up/_mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')

bench_table "cache.sh: $WORKERS worker(s), ~1 KB prompt on the mock" "plain cached policy decided" \
    "cached:plain decided:policy"
echo "requests that reached the upstream: $mocked" | tee -a "$out"
