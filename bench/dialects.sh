#!/usr/bin/env bash
# dialects.sh — what the Anthropic dialect costs on top of Chat Completions, end to end
# through the gateway: the same conversation (a system prompt and ~1 KB of user text) sent
# as POST /v1/chat/completions and as POST /v1/messages, to one model on the mock upstream
# (an OpenAI-compatible endpoint, so /v1/messages pays its request and answer translation).
# Rounds alternate the two bodies; prints medians of max throughput (closed loop) and of
# p50/p99 at a fixed open-loop rate, and the ratios messages / chat.
#
# Usage: bench/dialects.sh BUILD_DIR
# Environment (defaults in brackets):
#   RATE [2000]      requests per second for the latency runs
#   DURATION [5]     measured seconds per run, after WARMUP [1]
#   ROUNDS [3]       runs per dialect and measure; the medians are printed
#   CONNS [32]       keep-alive connections
#   OUT [bench/out]  the output is also written to OUT/dialects-<stamp>.txt
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
    [ -x "$b" ] || { echo "dialects.sh: $b not found: build it first" >&2; exit 2; }
done
RATE=${RATE:-2000}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
out=$OUT/dialects-$(date +%Y%m%d-%H%M%S).txt

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
[ -n "$up" ] || { echo "dialects.sh: the mock did not start" >&2; cat "$tmp/mock.out" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/config.lua" <<EOF
server { listen = "127.0.0.1:$port", workers = 1 }
provider { id = "mock", kind = "openai", base_url = "http://127.0.0.1:$up/v1", timeout_ms = 5000 }
model { id = "large", provider = "mock", upstream = "mock", context_window = 128000, max_output = 4096 }
EOF
"$sy" serve --config "$tmp/config.lua" 2> "$tmp/gw.log" &
gw=$!
for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break
    sleep 0.1
done

# The same ~1 KB of text in both dialects.
text=$(python3 -c 'print(("Our order #4411 arrived with a cracked lid; the courier left it at the wrong door. " * 12).strip())')
printf '{"model":"large","max_tokens":256,"messages":[{"role":"system","content":"You are a support agent."},{"role":"user","content":"%s"}]}' \
    "$text" > "$tmp/chat.json"
printf '{"model":"large","max_tokens":256,"system":"You are a support agent.","messages":[{"role":"user","content":"%s"}]}' \
    "$text" > "$tmp/messages.json"
for d in chat messages; do # both must answer 200 before anything is timed
    path=/v1/chat/completions
    [ $d = messages ] && path=/v1/messages
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary @"$tmp/$d.json" "http://127.0.0.1:$port$path")
    [ "$code" = 200 ] || { echo "dialects.sh: $path answered $code" >&2; exit 1; }
done

run() { # dialect, then sy-loadgen's load options
    local d=$1 path=/v1/chat/completions
    shift
    [ "$d" = messages ] && path=/v1/messages
    "$lg" --url "http://127.0.0.1:$port$path" --body "$tmp/$d.json" --duration "$DURATION" \
        --warmup "$WARMUP" --connections "$CONNS" "$@"
}
: > "$tmp/results"
for r in $(seq "$ROUNDS"); do
    for d in chat messages; do
        echo "round $r/$ROUNDS: $d" >&2
        printf '%s max %s\n' "$d" "$(run "$d" --max)" >> "$tmp/results"
        printf '%s rate %s\n' "$d" "$(run "$d" --rate "$RATE")" >> "$tmp/results"
    done
done

python3 - "$tmp/results" "$RATE" "$ROUNDS" <<'PY' | tee "$out"
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    d, kind, js = line.split(" ", 2)
    rows.setdefault((d, kind), []).append(json.loads(js))
med = lambda d, kind, key: statistics.median(r[key] for r in rows[(d, kind)])
bad = sum(r["non2xx"] + r["errors"] for rs in rows.values() for r in rs)
print(f"# dialects.sh: one model on the mock, ~1 KB prompt, medians of {sys.argv[3]} runs")
print(f"{'dialect':10} {'max rps':>9} {'p50 us @' + sys.argv[2]:>12} {'p99 us':>8}")
for d in ("chat", "messages"):
    print(f"{d:10} {med(d,'max','achieved_rps'):>9.0f} {med(d,'rate','p50_us'):>12.1f} {med(d,'rate','p99_us'):>8.1f}")
print(f"messages / chat, max throughput: {med('messages','max','achieved_rps') / med('chat','max','achieved_rps'):.2f}")
print(f"messages - chat, p50 at {sys.argv[2]} req/s: {med('messages','rate','p50_us') - med('chat','rate','p50_us'):+.1f} us")
print(f"non-2xx or failed requests: {bad}")
PY
echo "# written to $out"
