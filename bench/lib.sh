# bench/lib.sh — what the A/B benchmark scripts share (sourced, not run): the build directory
# and its binaries, the common environment knobs, a temp dir and the processes to kill on exit,
# the mock upstream, free ports, alternating rounds of sy-loadgen, and the table of medians.
#
#   . "$(dirname "$0")/lib.sh"
#   bench_setup NAME "$@"            # usage check; sets build here sy lg mock tmp out RATE ...
#   bench_start_mock                 # the mock upstream on a free port: sets $up
#   port=$(bench_freeport)
#   bench_spawn CMD...               # runs CMD in the background, killed on exit
#   bench_wait_healthy PORT
#   run() { ... }                    # LABEL, then sy-loadgen's load options: one JSON line
#   bench_rounds LABEL...            # ROUNDS x (max, rate) per label, alternating
#   bench_table "TITLE" "LABEL..." "A:B..."   # medians, and A / B ratios
# Environment (defaults in brackets): RATE [2000] req/s for the latency runs, DURATION [5]
# measured seconds per run after WARMUP [1], ROUNDS [3], CONNS [32] keep-alive connections,
# OUT [bench/out] where NAME-<stamp>.txt is also written.

bench_setup() {
    BENCH_NAME=$1
    shift
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
        [ -x "$b" ] || { echo "$BENCH_NAME.sh: $b not found: build it first" >&2; exit 2; }
    done
    RATE=${RATE:-2000}
    DURATION=${DURATION:-5}
    WARMUP=${WARMUP:-1}
    ROUNDS=${ROUNDS:-3}
    CONNS=${CONNS:-32}
    OUT=${OUT:-$here/out}
    mkdir -p "$OUT"
    out=$OUT/$BENCH_NAME-$(date +%Y%m%d-%H%M%S).txt
    tmp=$(mktemp -d)
    BENCH_PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for p in "${BENCH_PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null
    rm -rf "$tmp"
}

bench_spawn() {
    "$@" &
    BENCH_PIDS+=($!)
}

bench_freeport() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_start_mock() {
    bench_spawn "$mock" --listen 127.0.0.1:0 > "$tmp/mock.out" 2>&1
    for _ in $(seq 50); do grep -q '^listening on' "$tmp/mock.out" 2> /dev/null && break; sleep 0.1; done
    up=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/mock.out")
    [ -n "$up" ] || { echo "$BENCH_NAME.sh: the mock did not start" >&2; cat "$tmp/mock.out" >&2; exit 1; }
}

bench_wait_healthy() {
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$1/healthz" > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$BENCH_NAME.sh: nothing healthy on port $1" >&2
    exit 1
}

bench_rounds() {
    : > "$tmp/results"
    for r in $(seq "$ROUNDS"); do
        for label in "$@"; do
            echo "round $r/$ROUNDS: $label" >&2
            printf '%s max %s\n' "$label" "$(run "$label" --max)" >> "$tmp/results"
            printf '%s rate %s\n' "$label" "$(run "$label" --rate "$RATE")" >> "$tmp/results"
        done
    done
}

bench_table() {
    python3 - "$tmp/results" "$RATE" "$ROUNDS" "$1" "$2" "$3" << 'PY' | tee "$out"
import json, statistics, sys
results, rate, rounds, title, labels, pairs = sys.argv[1:7]
rows = {}
for line in open(results):
    label, kind, js = line.split(" ", 2)
    rows.setdefault((label, kind), []).append(json.loads(js))
med = lambda l, kind, key: statistics.median(r[key] for r in rows[(l, kind)])
bad = sum(r["non2xx"] + r["errors"] for rs in rows.values() for r in rs)
print(f"# {title}, medians of {rounds} runs")
print(f"{'':10} {'max rps':>9} {'p50 us @' + rate:>12} {'p99 us':>8}")
for l in labels.split():
    print(f"{l:10} {med(l,'max','achieved_rps'):>9.0f} {med(l,'rate','p50_us'):>12.1f} {med(l,'rate','p99_us'):>8.1f}")
for pair in pairs.split():
    a, b = pair.split(":")
    print(f"{a} / {b}, max throughput: {med(a,'max','achieved_rps') / med(b,'max','achieved_rps'):.2f}"
          f"   p50 {a} - {b} at {rate} req/s: {med(a,'rate','p50_us') - med(b,'rate','p50_us'):+.1f} us")
print(f"non-2xx or failed requests: {bad}")
PY
    echo "# written to $out"
}
