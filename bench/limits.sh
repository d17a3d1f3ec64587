#!/usr/bin/env bash
# limits.sh — what client keys, rate limits and budgets cost per request, end to end through
# the gateway: the same request to one model on the mock upstream with no keys configured,
# with a key whose limits are counted in the process, and with the same limits in Redis
# (a redis-server on a loopback port, started and stopped here). Rounds alternate the three;
# prints medians of max throughput (closed loop) and p50/p99 at a fixed open-loop rate, and
# the ratios against the no-key baseline.
#
# Usage: bench/limits.sh BUILD_DIR
# Environment (defaults in brackets):
#   RATE [2000]      requests per second for the latency runs
#   DURATION [5]     measured seconds per run, after WARMUP [1]
#   ROUNDS [3]       runs per setup and measure; the medians are printed
#   CONNS [32]       keep-alive connections
#   REDIS [redis-server]  the redis-server binary
#   OUT [bench/out]  the output is also written to OUT/limits-<stamp>.txt
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
REDIS=${REDIS:-redis-server}
for b in "$sy" "$lg" "$mock"; do
    [ -x "$b" ] || { echo "limits.sh: $b not found: build it first" >&2; exit 2; }
done
command -v "$REDIS" > /dev/null || { echo "limits.sh: $REDIS not found (Debian package redis-server)" >&2; exit 2; }
RATE=${RATE:-2000}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
out=$OUT/limits-$(date +%Y%m%d-%H%M%S).txt

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$mock" --listen 127.0.0.1:0 > "$tmp/mock.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q '^listening on' "$tmp/mock.out" 2> /dev/null && break; sleep 0.1; done
up=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/mock.out")
[ -n "$up" ] || { echo "limits.sh: the mock did not start" >&2; exit 1; }
rport=$(freeport)
"$REDIS" --port "$rport" --bind 127.0.0.1 --save "" --appendonly no > "$tmp/redis.log" 2>&1 &
pids+=($!)

export SY_BENCH_KEY=sk-bench-4f1c2a
# limits far above what the run reaches: every request is checked and reserved, none refused
limits='limits = { rpm = 100000000, tpm = 100000000000, usd_day = 1000000 }'
declare -A port
for setup in nokeys local redis; do
    port[$setup]=$(freeport)
    {
        if [ "$setup" = redis ]; then
            echo "server { listen = \"127.0.0.1:${port[$setup]}\", workers = 1, redis = \"redis://127.0.0.1:$rport\" }"
        else
            echo "server { listen = \"127.0.0.1:${port[$setup]}\", workers = 1 }"
        fi
        echo "provider { id = \"mock\", kind = \"openai\", base_url = \"http://127.0.0.1:$up/v1\", timeout_ms = 5000 }"
        echo "model { id = \"large\", provider = \"mock\", upstream = \"mock\", price = { input = 0.0025, output = 0.01 } }"
        [ "$setup" = nokeys ] || echo "key { id = \"bench\", key_env = \"SY_BENCH_KEY\", team = \"t\", $limits }"
        [ "$setup" = nokeys ] || echo "team { id = \"t\", $limits }"
    } > "$tmp/$setup.lua"
    "$sy" serve --config "$tmp/$setup.lua" 2> "$tmp/$setup.log" &
    pids+=($!)
done
printf '{"model":"large","max_tokens":64,"messages":[{"role":"user","content":"%s"}]}' \
    "$(python3 -c 'print(("How do I reset my password on the customer portal? " * 20).strip())')" > "$tmp/body.json"
for setup in nokeys local redis; do # every setup answers 200 before anything is timed
    for _ in $(seq 50); do curl -fs "http://127.0.0.1:${port[$setup]}/healthz" > /dev/null 2>&1 && break; sleep 0.1; done
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SY_BENCH_KEY" \
        -H 'content-type: application/json' --data-binary @"$tmp/body.json" \
        "http://127.0.0.1:${port[$setup]}/v1/chat/completions")
    [ "$code" = 200 ] || { echo "limits.sh: $setup answered $code" >&2; cat "$tmp/$setup.log" >&2; exit 1; }
done

run() { # setup, then sy-loadgen's load options
    local s=$1
    shift
    "$lg" --url "http://127.0.0.1:${port[$s]}/v1/chat/completions" --body "$tmp/body.json" \
        --header "Authorization: Bearer $SY_BENCH_KEY" --duration "$DURATION" --warmup "$WARMUP" \
        --connections "$CONNS" "$@"
}
: > "$tmp/results"
for r in $(seq "$ROUNDS"); do
    for s in nokeys local redis; do
        echo "round $r/$ROUNDS: $s" >&2
        printf '%s max %s\n' "$s" "$(run "$s" --max)" >> "$tmp/results"
        printf '%s rate %s\n' "$s" "$(run "$s" --rate "$RATE")" >> "$tmp/results"
    done
done

python3 - "$tmp/results" "$RATE" "$ROUNDS" <<'PY' | tee "$out"
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    s, kind, js = line.split(" ", 2)
    rows.setdefault((s, kind), []).append(json.loads(js))
med = lambda s, kind, key: statistics.median(r[key] for r in rows[(s, kind)])
bad = sum(r["non2xx"] + r["errors"] for rs in rows.values() for r in rs)
print(f"# limits.sh: one model on the mock, ~1 KB prompt, medians of {sys.argv[3]} runs")
print(f"{'setup':8} {'max rps':>9} {'p50 us @' + sys.argv[2]:>12} {'p99 us':>8}")
for s in ("nokeys", "local", "redis"):
    print(f"{s:8} {med(s,'max','achieved_rps'):>9.0f} {med(s,'rate','p50_us'):>12.1f} {med(s,'rate','p99_us'):>8.1f}")
for s in ("local", "redis"):
    print(f"{s} / no keys, max throughput: {med(s,'max','achieved_rps') / med('nokeys','max','achieved_rps'):.2f}"
          f"   p50 added at {sys.argv[2]} req/s: {med(s,'rate','p50_us') - med('nokeys','rate','p50_us'):+.1f} us")
print(f"non-2xx or failed requests: {bad}")
PY
echo "# written to $out"
