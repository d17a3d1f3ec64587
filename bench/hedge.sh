#!/usr/bin/env bash
# hedge.sh — tail latency of a plain chain against a hedge, end to end through the gateway,
# on sim models whose latency has a heavy tail (SLOW_RATE of the calls SLOW_FACTOR x slower).
# Same models, same rate, same run; prints p50/p95/p99 of both, the p99 ratio and how many
# upstream calls the hedge added (GET /admin/models "started": cancelled hedges included).
#
# Usage: bench/hedge.sh BUILD_DIR
# Environment (defaults in brackets):
#   RATE [200]          requests per second (open loop, sy-loadgen)
#   DURATION [20]       measured seconds per route, after WARMUP [2]
#   TTFT_P50 [20] TTFT_P95 [30]   the models' time to answer, ms (log-normal)
#   SLOW_RATE [0.05] SLOW_FACTOR [10]   the heavy tail
#   AFTER_MS [40]       the hedge's delay
#   OUT [bench/out]     the output is also written to OUT/hedge-<stamp>.txt
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RATE=${RATE:-200}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-2}
bench_setup hedge "$@"
TTFT_P50=${TTFT_P50:-20}
TTFT_P95=${TTFT_P95:-30}
SLOW_RATE=${SLOW_RATE:-0.05}
SLOW_FACTOR=${SLOW_FACTOR:-10}
AFTER_MS=${AFTER_MS:-40}
port=$(bench_freeport)
model() {
    cat <<EOM
model { id = "$1", provider = "sim", breaker = false,
        sim = { ttft = { p50 = $TTFT_P50, p95 = $TTFT_P95 }, output_tokens = { min = 1, max = 1 },
                tokens_per_second = 1000000, slow_rate = $SLOW_RATE, slow_factor = $SLOW_FACTOR,
                deterministic = false } }
EOM
}
{
    echo "server { listen = \"127.0.0.1:$port\", workers = 1, admin_token = \"bench\" }"
    echo "provider { id = \"sim\", kind = \"sim\", seed = 1 }"
    model a
    model b
    echo "route { name = \"chain\", policy = \"$here/hedge_policy.lua\", default = \"a\", options = { hedge = false } }"
    echo "route { name = \"hedge\", policy = \"$here/hedge_policy.lua\", default = \"a\", options = { hedge = true, after_ms = $AFTER_MS } }"
} > "$tmp/config.lua"

bench_spawn "$sy" serve --config "$tmp/config.lua" 2> "$tmp/gw.log"
bench_wait_healthy "$port"

started() { # total upstream calls so far
    curl -fs -H 'Authorization: Bearer bench' "http://127.0.0.1:$port/admin/models" |
        python3 -c 'import json,sys; print(sum(m.get("started",0) for m in json.load(sys.stdin)["data"]))'
}
declare -A res calls
for route in chain hedge; do
    printf '{"model":"%s","messages":[{"role":"user","content":"hi"}]}' "$route" > "$tmp/$route.json"
    before=$(started)
    res[$route]=$("$lg" --url "http://127.0.0.1:$port/v1/chat/completions" --rate "$RATE" \
        --duration "$DURATION" --warmup "$WARMUP" --connections 64 --body "$tmp/$route.json")
    after=$(started)
    calls[$route]=$((after - before))
done

WARMUP=$WARMUP DURATION=$DURATION TTFT_P50=$TTFT_P50 SLOW_RATE=$SLOW_RATE SLOW_FACTOR=$SLOW_FACTOR \
AFTER_MS=$AFTER_MS python3 - "${res[chain]}" "${res[hedge]}" "${calls[chain]}" "${calls[hedge]}" <<'PY' | tee "$out"
import json, sys, os
c, h = json.loads(sys.argv[1]), json.loads(sys.argv[2])
cc, hc = int(sys.argv[3]), int(sys.argv[4])
env = os.environ
print(f"# hedge.sh: rate {c['rate']:.0f} req/s, models ttft p50 {env.get('TTFT_P50','20')} ms, "
      f"{float(env.get('SLOW_RATE','0.05'))*100:.0f}% of calls {env.get('SLOW_FACTOR','10')}x slower, "
      f"hedge after {env.get('AFTER_MS','40')} ms")
print(f"{'route':8} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'calls/req':>9} {'non2xx':>7}")
for name, r, n in (("chain", c, cc), ("hedge", h, hc)):
    # the call counts cover the warm-up too: per request over everything sent
    sent = r["rate"] * (float(env.get("WARMUP", "2")) + float(env.get("DURATION", "20")))
    print(f"{name:8} {r['sent']:>9} {r['p50_us']/1e3:>8.1f} {r['p95_us']/1e3:>8.1f} {r['p99_us']/1e3:>8.1f} "
          f"{n / max(sent, 1):>9.3f} {r['non2xx']+r['errors']:>7}")
ratio = c["p99_us"] / max(h["p99_us"], 1)
extra = (hc - cc) / max(cc, 1) * 100
print(f"p99 chain / hedge: {ratio:.2f}x (target >= 2x)   extra upstream calls: {extra:+.1f}% (target <= 10%)")
PY
echo "# written to $out"
