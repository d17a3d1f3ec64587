#!/usr/bin/env bash
# admission_cost.sh — what a concurrency limit costs while it is not reached: the same
# request to two models on the mock upstream, one without a limit and one with
# `concurrency = 100000` (every attempt takes and gives back a slot under the model's mutex,
# none ever waits). Rounds alternate the two; prints medians of max throughput (closed loop)
# and of p50/p99 at a fixed open-loop rate, and the ratios capped / free.
#
# Usage: bench/admission_cost.sh BUILD_DIR
# Environment (defaults in brackets):
#   RATE [2000]      requests per second for the latency runs
#   DURATION [5]     measured seconds per run, after WARMUP [1]
#   ROUNDS [3]       runs per model and measure; the medians are printed
#   CONNS [32]       keep-alive connections
#   WORKERS [2]      gateway worker threads (they share the model's counter)
#   OUT [bench/out]  the output is also written to OUT/admission-cost-<stamp>.txt
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
    [ -x "$b" ] || { echo "admission_cost.sh: $b not found: build it first" >&2; exit 2; }
done
RATE=${RATE:-2000}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
WORKERS=${WORKERS:-2}
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
out=$OUT/admission-cost-$(date +%Y%m%d-%H%M%S).txt

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
[ -n "$up" ] || { echo "admission_cost.sh: the mock did not start" >&2; cat "$tmp/mock.out" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/config.lua" <<EOF
server { listen = "127.0.0.1:$port", workers = $WORKERS }
provider { id = "mock", kind = "openai", base_url = "http://127.0.0.1:$up/v1", timeout_ms = 5000 }
model { id = "free", provider = "mock", upstream = "mock", breaker = false }
model { id = "capped", provider = "mock", upstream = "mock", breaker = false, concurrency = 100000 }
EOF
"$sy" serve --config "$tmp/config.lua" 2> "$tmp/gw.log" &
gw=$!
for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break
    sleep 0.1
done
for m in free capped; do
    printf '{"model":"%s","messages":[{"role":"user","content":"Where is my order #4411?"}]}' "$m" > "$tmp/$m.json"
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary @"$tmp/$m.json" "http://127.0.0.1:$port/v1/chat/completions")
    [ "$code" = 200 ] || { echo "admission_cost.sh: $m answered $code" >&2; exit 1; }
done

run() { # model, then sy-loadgen's load options
    local m=$1
    shift
    "$lg" --url "http://127.0.0.1:$port/v1/chat/completions" --body "$tmp/$m.json" \
        --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNS" "$@"
}
: > "$tmp/results"
for r in $(seq "$ROUNDS"); do
    for m in free capped; do
        echo "round $r/$ROUNDS: $m" >&2
        printf '%s max %s\n' "$m" "$(run "$m" --max)" >> "$tmp/results"
        printf '%s rate %s\n' "$m" "$(run "$m" --rate "$RATE")" >> "$tmp/results"
    done
done

python3 - "$tmp/results" "$RATE" "$ROUNDS" "$WORKERS" <<'PY' | tee "$out"
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m, kind, js = line.split(" ", 2)
    rows.setdefault((m, kind), []).append(json.loads(js))
med = lambda m, kind, key: statistics.median(r[key] for r in rows[(m, kind)])
bad = sum(r["non2xx"] + r["errors"] for rs in rows.values() for r in rs)
print(f"# admission_cost.sh: one model on the mock, {sys.argv[4]} workers, medians of {sys.argv[3]} runs")
print(f"{'model':8} {'max rps':>9} {'p50 us @' + sys.argv[2]:>12} {'p99 us':>8}")
for m in ("free", "capped"):
    print(f"{m:8} {med(m,'max','achieved_rps'):>9.0f} {med(m,'rate','p50_us'):>12.1f} {med(m,'rate','p99_us'):>8.1f}")
print(f"capped / free, max throughput: {med('capped','max','achieved_rps') / med('free','max','achieved_rps'):.2f}")
print(f"capped - free, p50 at {sys.argv[2]} req/s: {med('capped','rate','p50_us') - med('free','rate','p50_us'):+.1f} us")
if bad:
    print(f"# {bad} requests failed")
PY
