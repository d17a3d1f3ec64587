#!/usr/bin/env bash
# admission_cost.sh — what a concurrency limit costs while it is not reached: the same
# request to two models on the mock upstream, one without a limit and one with
# `concurrency = 100000` (every attempt takes and gives back a slot under the model's mutex,
# none ever waits). Rounds alternate the two; prints medians of max throughput (closed loop)
# and of p50/p99 at a fixed open-loop rate, and the ratios capped / free.
#
# Usage: bench/admission_cost.sh BUILD_DIR
# Environment: see bench/lib.sh; WORKERS [2] gateway worker threads (they share the model's
# counter).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup admission-cost "$@"
WORKERS=${WORKERS:-2}
bench_start_mock
port=$(bench_freeport)
cat > "$tmp/config.lua" <<EOF
server { listen = "127.0.0.1:$port", workers = $WORKERS }
provider { id = "mock", kind = "openai", base_url = "http://127.0.0.1:$up/v1", timeout_ms = 5000 }
model { id = "free", provider = "mock", upstream = "mock", breaker = false }
model { id = "capped", provider = "mock", upstream = "mock", breaker = false, concurrency = 100000 }
EOF
bench_spawn "$sy" serve --config "$tmp/config.lua" 2> "$tmp/gw.log"
bench_wait_healthy "$port"
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
bench_rounds free capped
bench_table "admission_cost.sh: one model on the mock, $WORKERS workers" "free capped" "capped:free"
