#!/usr/bin/env bash
# admission.sh — interactive traffic overtaking batch traffic on a saturated model. One sim
# model with a concurrency limit gets more batch requests than it can serve and, at the same
# time, a trickle of interactive ones; run twice in the same gateway: once with every request
# at the same priority, once with the batch traffic sent `x-switchyard-priority: low` and the
# interactive `high`. Prints the interactive and batch latency of both runs and how many
# batch requests were turned away (503 model_overloaded).
#
# Usage: bench/admission.sh BUILD_DIR
# Environment (defaults in brackets):
#   CONCURRENCY [4]      the model's limit
#   SERVICE_MS [50]      its time per request (sim ttft, fixed)
#   BATCH_RATE [100]     batch requests per second (capacity: CONCURRENCY * 1000 / SERVICE_MS)
#   INTERACTIVE_RATE [10]
#   QUEUE_MAX [64] QUEUE_TIMEOUT_MS [2000]
#   DURATION [10]        measured seconds per run, after WARMUP [2]
#   OUT [bench/out]      the output is also written to OUT/admission-<stamp>.txt
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
bench_setup admission "$@"
CONCURRENCY=${CONCURRENCY:-4}
SERVICE_MS=${SERVICE_MS:-50}
BATCH_RATE=${BATCH_RATE:-100}
INTERACTIVE_RATE=${INTERACTIVE_RATE:-10}
QUEUE_MAX=${QUEUE_MAX:-64}
QUEUE_TIMEOUT_MS=${QUEUE_TIMEOUT_MS:-2000}
port=$(bench_freeport)
cat > "$tmp/config.lua" <<EOF
server { listen = "127.0.0.1:$port", workers = 2, admin_token = "bench" }
provider { id = "sim", kind = "sim", seed = 1 }
model { id = "gpu", provider = "sim", breaker = false,
        concurrency = $CONCURRENCY, queue = { max = $QUEUE_MAX, timeout_ms = $QUEUE_TIMEOUT_MS },
        sim = { ttft = { p50 = $SERVICE_MS, p95 = $SERVICE_MS }, output_tokens = { min = 1, max = 1 },
                tokens_per_second = 1000000, deterministic = false } }
EOF
printf '{"model":"gpu","messages":[{"role":"user","content":"hi"}]}' > "$tmp/body.json"

bench_spawn "$sy" serve --config "$tmp/config.lua" 2> "$tmp/gw.log"
bench_wait_healthy "$port"

# run NAME BATCH_HEADER INTERACTIVE_HEADER: both load generators at once
run() {
    local bh=() ih=()
    [ -n "$2" ] && bh=(--header "$2")
    [ -n "$3" ] && ih=(--header "$3")
    { "$lg" --url "http://127.0.0.1:$port/v1/chat/completions" --rate "$BATCH_RATE" \
        --duration "$DURATION" --warmup "$WARMUP" --connections 256 --body "$tmp/body.json" \
        "${bh[@]}" > "$tmp/$1-batch.json" || true; } & # (503s are expected: exit status 1)
    local bpid=$!
    "$lg" --url "http://127.0.0.1:$port/v1/chat/completions" --rate "$INTERACTIVE_RATE" \
        --duration "$DURATION" --warmup "$WARMUP" --connections 32 --body "$tmp/body.json" \
        "${ih[@]}" > "$tmp/$1-interactive.json" || true
    wait "$bpid"
}
run same "" ""
sleep 3 # the queue drains
run prio "x-switchyard-priority: low" "x-switchyard-priority: high"

CONCURRENCY=$CONCURRENCY SERVICE_MS=$SERVICE_MS BATCH_RATE=$BATCH_RATE INTERACTIVE_RATE=$INTERACTIVE_RATE \
python3 - "$tmp" <<'PY' | tee "$out"
import json, os, sys
d, env = sys.argv[1], os.environ
cap = int(env["CONCURRENCY"]) * 1000 / float(env["SERVICE_MS"])
print(f"# admission.sh: model concurrency {env['CONCURRENCY']}, {env['SERVICE_MS']} ms per request "
      f"(capacity {cap:.0f} req/s); batch {env['BATCH_RATE']} req/s + interactive "
      f"{env['INTERACTIVE_RATE']} req/s, open loop")
print(f"{'run':6} {'traffic':12} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'503s':>6}")
for run in ("same", "prio"):
    for kind in ("interactive", "batch"):
        r = json.load(open(f"{d}/{run}-{kind}.json"))
        print(f"{run:6} {kind:12} {r['sent']:>9} {r['p50_us']/1e3:>8.1f} {r['p99_us']/1e3:>8.1f} "
              f"{r['non2xx']:>6}")
PY
echo "# written to $out"
