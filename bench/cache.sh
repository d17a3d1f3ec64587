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
# Environment (defaults in brackets):
#   WORKERS [1]      gateway worker threads (2: the memory cache's mutex is shared by both)
#   RATE [2000]      requests per second for the latency runs
#   DURATION [5]     measured seconds per run, after WARMUP [1]
#   ROUNDS [3]       runs per route and measure; the medians are printed
#   CONNS [32]       keep-alive connections
#   OUT [bench/out]  the output is also written to OUT/cache-<stamp>.txt
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
sy=$build/switchyard
lg=$build/bench/sy-loadgen
mock=$build/tests/mock/sy-mock-upstream
for b in "$sy" "$lg" "$mock"; do
    [ -x "$b" ] || { echo "cache.sh: $b not found: build it first" >&2; exit 2; }
done
WORKERS=${WORKERS:-1}
RATE=${RATE:-2000}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
out=$OUT/cache-$(date +%Y%m%d-%H%M%S).txt

tmp=$(mktemp -d)
gw= mk=
cleanup() {
    [ -n "$gw" ] && kill "$gw" 2>/dev/null
    [ -n "$mk" ] && kill "$mk" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

"$mock" --listen 127.0.0.1:0 > "$tmp/mock.out" 2>&1 &
mk=$!
for _ in $(seq 50); do grep -q '^listening on' "$tmp/mock.out" 2>/dev/null && break; sleep 0.1; done
up=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/mock.out")
[ -n "$up" ] || { echo "cache.sh: the mock did not start" >&2; cat "$tmp/mock.out" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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
"$sy" serve --config "$tmp/config.lua" 2> "$tmp/gw.log" &
gw=$!
for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break
    sleep 0.1
done

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
: > "$tmp/results"
for n in $(seq "$ROUNDS"); do
    for r in plain cached policy decided; do
        echo "round $n/$ROUNDS: $r" >&2
        printf '%s max %s\n' "$r" "$(run "$r" --max)" >> "$tmp/results"
        printf '%s rate %s\n' "$r" "$(run "$r" --rate "$RATE")" >> "$tmp/results"
    done
done
mocked=$(curl -s "http://127.0.0.1:$up/_mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')

python3 - "$tmp/results" "$RATE" "$ROUNDS" "$WORKERS" "$mocked" <<'PY' | tee "$out"
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r, kind, js = line.split(" ", 2)
    rows.setdefault((r, kind), []).append(json.loads(js))
med = lambda r, kind, key: statistics.median(x[key] for x in rows[(r, kind)])
bad = sum(x["non2xx"] + x["errors"] for rs in rows.values() for x in rs)
print(f"# cache.sh: {sys.argv[4]} worker(s), ~1 KB prompt on the mock, medians of {sys.argv[3]} runs")
print(f"{'route':8} {'max rps':>9} {'p50 us @' + sys.argv[2]:>12} {'p99 us':>8}")
for r in ("plain", "cached", "policy", "decided"):
    print(f"{r:8} {med(r,'max','achieved_rps'):>9.0f} {med(r,'rate','p50_us'):>12.1f} {med(r,'rate','p99_us'):>8.1f}")
print(f"cached / plain, max throughput: {med('cached','max','achieved_rps') / med('plain','max','achieved_rps'):.2f}")
print(f"cached - plain, p50 at {sys.argv[2]} req/s: {med('cached','rate','p50_us') - med('plain','rate','p50_us'):+.1f} us")
print(f"decided / policy, max throughput: {med('decided','max','achieved_rps') / med('policy','max','achieved_rps'):.2f}")
print(f"decided - policy, p50 at {sys.argv[2]} req/s: {med('decided','rate','p50_us') - med('policy','rate','p50_us'):+.1f} us")
print(f"requests that reached the upstream: {sys.argv[5]}")
print(f"non-2xx or failed requests: {bad}")
PY
echo "# written to $out"
