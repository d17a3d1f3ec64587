#!/usr/bin/env bash
# limits.sh — what client keys, rate limits and budgets cost per request, end to end through
# the gateway: the same request to one model on the mock upstream with no keys configured,
# with a key whose limits are counted in the process, and with the same limits in Redis
# (a redis-server on a loopback port, started and stopped here). Rounds alternate the three;
# prints medians of max throughput (closed loop) and p50/p99 at a fixed open-loop rate, and
# the ratios against the no-key baseline.
#
# Usage: bench/limits.sh BUILD_DIR   (environment: see bench/lib.sh; REDIS [redis-server])
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup limits "$@"
REDIS=${REDIS:-redis-server}
command -v "$REDIS" > /dev/null || { echo "limits.sh: $REDIS not found (Debian package redis-server)" >&2; exit 2; }
bench_start_mock
rport=$(bench_freeport)
bench_spawn "$REDIS" --port "$rport" --bind 127.0.0.1 --save "" --appendonly no > "$tmp/redis.log" 2>&1

export SY_BENCH_KEY=sk-bench-4f1c2a
# limits far above what the run reaches: every request is checked and reserved, none refused
limits='limits = { rpm = 100000000, tpm = 100000000000, usd_day = 1000000 }'
declare -A port
for setup in nokeys local redis; do
    port[$setup]=$(bench_freeport)
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
    bench_spawn "$sy" serve --config "$tmp/$setup.lua" 2> "$tmp/$setup.log"
done
printf '{"model":"large","max_tokens":64,"messages":[{"role":"user","content":"%s"}]}' \
    "$(python3 -c 'print(("How do I reset my password on the customer portal? " * 20).strip())')" > "$tmp/body.json"
for setup in nokeys local redis; do # every setup answers 200 before anything is timed
    bench_wait_healthy "${port[$setup]}"
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
bench_rounds nokeys local redis
bench_table "limits.sh: one model on the mock, ~1 KB prompt" "nokeys local redis" "local:nokeys redis:nokeys"
