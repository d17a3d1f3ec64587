#!/usr/bin/env bash
# batch.sh — how fast `switchyard batch` drains a file: N requests through an in-process
# gateway to the mock upstream, at several --concurrency values, with an upstream that
# answers at once (what batch + the gateway cost per request) and one that takes DELAY_MS
# (where concurrency should buy throughput up to concurrency / latency). Prints requests per
# second and, for the slow upstream, the share of the ideal concurrency × 1000 / DELAY_MS.
#
# Usage: bench/batch.sh BUILD_DIR
# Environment (defaults in brackets):
#   N [1000]            requests in the file
#   DELAY_MS [50]       latency of the slow upstream
#   CONCURRENCY ["1 8 32 128"]
#   WORKERS [1]         worker threads of the in-process gateway
#   OUT [bench/out]     the output is also written to OUT/batch-<stamp>.txt
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
sy=$build/switchyard
mock=$build/tests/mock/sy-mock-upstream
for b in "$sy" "$mock"; do
    [ -x "$b" ] || { echo "batch.sh: $b not found: build it first" >&2; exit 2; }
done
N=${N:-1000}
DELAY_MS=${DELAY_MS:-50}
CONCURRENCY=${CONCURRENCY:-"1 8 32 128"}
WORKERS=${WORKERS:-1}
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
out=$OUT/batch-$(date +%Y%m%d-%H%M%S).txt

tmp=$(mktemp -d)
mk=
cleanup() {
    [ -n "$mk" ] && kill "$mk" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

"$mock" --listen 127.0.0.1:0 --threads 2 > "$tmp/mock.out" 2>&1 &
mk=$!
for _ in $(seq 50); do grep -q '^listening on' "$tmp/mock.out" 2>/dev/null && break; sleep 0.1; done
up=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/mock.out")
[ -n "$up" ] || { echo "batch.sh: the mock did not start" >&2; cat "$tmp/mock.out" >&2; exit 1; }
cat > "$tmp/config.lua" <<EOF
server { workers = $WORKERS }
provider { id = "mock", kind = "openai", base_url = "http://127.0.0.1:$up/v1", timeout_ms = 5000 }
model { id = "fast", provider = "mock", upstream = "mock", price = { input = 0.15, output = 0.6 } }
model { id = "slow", provider = "mock", upstream = "mock?delay_ms=$DELAY_MS",
        price = { input = 0.15, output = 0.6 } }
EOF
for model in fast slow; do
    for i in $(seq "$N"); do
        printf '{"custom_id":"r%d","method":"POST","url":"/v1/chat/completions","body":{"model":"%s","messages":[{"role":"system","content":"You are a terse assistant."},{"role":"user","content":"Classify the sentiment of review number %d as positive, negative or neutral."}]}}\n' "$i" "$model" "$i"
    done > "$tmp/$model.jsonl"
done

{
    echo "switchyard batch: $N requests, in-process gateway ($WORKERS worker), mock upstream"
    echo "$(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    printf '%-10s %12s %14s %14s %10s\n' upstream concurrency seconds "requests/s" "of ideal"
    for model in fast slow; do
        for c in $CONCURRENCY; do
            rm -f "$tmp/out.jsonl"
            t0=$(date +%s%N)
            "$sy" batch --config "$tmp/config.lua" --concurrency "$c" --no-progress \
                "$tmp/$model.jsonl" "$tmp/out.jsonl" 2> "$tmp/batch.err" || {
                echo "batch.sh: the batch failed:" >&2; cat "$tmp/batch.err" >&2; exit 1; }
            t1=$(date +%s%N)
            lines=$(wc -l < "$tmp/out.jsonl")
            [ "$lines" -eq "$N" ] || { echo "batch.sh: $lines results for $N requests" >&2; exit 1; }
            awk -v n="$N" -v ns=$((t1 - t0)) -v c="$c" -v d="$DELAY_MS" -v m="$model" 'BEGIN {
                s = ns / 1e9; r = n / s
                ideal = m == "slow" ? sprintf("%.0f%%", 100 * r / (c * 1000 / d)) : "-"
                printf "%-10s %12d %14.2f %14.0f %10s\n", m == "slow" ? m " (" d " ms)" : m, c, s, r, ideal }'
        done
    done
} | tee "$out"
