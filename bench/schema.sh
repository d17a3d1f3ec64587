#!/usr/bin/env bash
# schema.sh — JSON Schema validations per second: switchyard's validator (sy-schema-bench,
# schema_bench.c) and ajv 8 (node-schema/bench.js, ajv/dist/2020) in one run, on the same
# schema and instances (data/schema-ticket.json, data/ticket-{valid,invalid}.json), then the
# ratios (see README.md, "JSON Schema validation"). ajv is installed with `npm ci` into
# bench/node-schema/node_modules from the committed package-lock.json.
#
# Usage: bench/schema.sh BUILD_DIR
#
# Environment (defaults in brackets):
#   N [300000]       validations per round and case
#   ROUNDS [5]       rounds per case within one process; its median is that run's figure
#   REPEAT [3]       runs of each program, alternating (sy, ajv, sy, ajv, ...); the median
#                    run is reported, so a burst of load on the shared host hits one run, not
#                    one side
#   SCHEMA, VALID, INVALID [bench/data/...]   other inputs
#   PIN [auto]       auto: run on the last CPU (taskset) when there are 2+; 0: no pinning
#   OUT [bench/out]  the output is also written to OUT/schema-<stamp>.txt
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/bench/sy-schema-bench
if [ ! -x "$bin" ]; then
    echo "schema.sh: $bin not found; build it first: cmake --build $build --target sy-schema-bench" >&2
    exit 2
fi
for tool in node npm; do
    if ! command -v $tool >/dev/null; then
        echo "schema.sh: $tool not found (Debian: apt-get install nodejs npm)" >&2
        exit 2
    fi
done

N=${N:-300000}
ROUNDS=${ROUNDS:-5}
REPEAT=${REPEAT:-3}
SCHEMA=${SCHEMA:-$here/data/schema-ticket.json}
VALID=${VALID:-$here/data/ticket-valid.json}
INVALID=${INVALID:-$here/data/ticket-invalid.json}
PIN=${PIN:-auto}
OUT=${OUT:-$here/out}

nodedir=$here/node-schema
if [ ! -f "$nodedir/node_modules/ajv/package.json" ] ||
    [ "$nodedir/package-lock.json" -nt "$nodedir/node_modules/.package-lock.json" ]; then
    echo "# installing ajv: npm ci in $nodedir" >&2
    (cd "$nodedir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

pin=()
ncpu=$(nproc 2>/dev/null || echo 1)
if [ "$PIN" = auto ] && [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
    pin=(taskset -c $((ncpu - 1)))
fi

mkdir -p "$OUT"
out=$OUT/schema-$(date +%Y%m%d-%H%M%S).txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "# load average before the run: $(cut -d' ' -f1-3 /proc/loadavg); pinning: ${pin[*]:-none}"
    echo "# schema $(basename "$SCHEMA"), instances $(basename "$VALID") / $(basename "$INVALID"); N=$N, median of $ROUNDS rounds, median of $REPEAT runs"
} | tee "$out"

for r in $(seq "$REPEAT"); do
    "${pin[@]}" "$bin" --n "$N" --rounds "$ROUNDS" "$SCHEMA" "$VALID" "$INVALID" >>"$tmp/sy"
    "${pin[@]}" node "$nodedir/bench.js" --n "$N" --rounds "$ROUNDS" "$SCHEMA" "$VALID" \
        "$INVALID" >>"$tmp/ajv"
done
cat "$tmp/sy" "$tmp/ajv" >>"$out"
grep -h '^#' "$tmp/sy" "$tmp/ajv" | sort -u >&2

# the median over the runs of one case's rate
rate() {
    awk -v c="$2" '$1 == "case" && $2 == c { print $3 }' "$1" | sort -n |
        awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
{
    printf '\n%-34s %14s %14s %8s\n' "case" "switchyard/s" "ajv/s" "ratio"
    for c in valid-first invalid-first valid-all invalid-all; do
        sy=$(rate "$tmp/sy" $c)
        aj=$(rate "$tmp/ajv" $c)
        case $c in
        *-first) what="${c%-first} instance, first error" ;;
        *-all) what="${c%-all} instance, all errors" ;;
        esac
        awk -v w="$what" -v s="$sy" -v a="$aj" \
            'BEGIN { printf "%-34s %14.0f %14.0f %7.2fx\n", w, s, a, s / a }'
    done
    for c in valid-verdict invalid-verdict; do
        awk -v w="${c%-verdict} instance, verdict only" -v s="$(rate "$tmp/sy" $c)" \
            'BEGIN { printf "%-34s %14.0f %14s %8s\n", w, s, "-", "" }'
    done
    echo
    echo "ratio = switchyard / ajv (target: >= 0.50 in every row). first error: ajv's default;"
    echo "all errors: ajv {allErrors: true} vs sy_schema_validate(..., 100, ...)."
} | tee -a "$out"
echo "# written to $out"
