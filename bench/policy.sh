#!/usr/bin/env bash
# policy.sh — in-process decision time of each ready policy: runs sy-policy-bench
# (policy_bench.c) on bench/policies.lua and keeps its output
# (see README.md, "Policy decision time").
#
# Usage: bench/policy.sh BUILD_DIR [sy-policy-bench arguments...]
#
# Environment (defaults in brackets):
#   CALLS [100000]   timed calls per policy and prompt size
#   WARMUP [2000]    untimed calls before them
#   CONFIG [bench/policies.lua]
#   PIN [auto]       auto: run on the last CPU (taskset) when there are 2+; 0: no pinning
#   OUT [bench/out]  the output is also written to OUT/policy-<stamp>.txt
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR [sy-policy-bench arguments...]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/bench/sy-policy-bench
if [ ! -x "$bin" ]; then
    echo "policy.sh: $bin not found; build it first: cmake --build $build --target sy-policy-bench" >&2
    exit 2
fi

CALLS=${CALLS:-100000}
WARMUP=${WARMUP:-2000}
CONFIG=${CONFIG:-$here/policies.lua}
PIN=${PIN:-auto}
OUT=${OUT:-$here/out}

pin=()
ncpu=$(nproc 2>/dev/null || echo 1)
if [ "$PIN" = auto ] && [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
    pin=(taskset -c $((ncpu - 1)))
fi

mkdir -p "$OUT"
out=$OUT/policy-$(date +%Y%m%d-%H%M%S).txt
{
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "# load average before the run: $(cut -d' ' -f1-3 /proc/loadavg); pinning: ${pin[*]:-none}"
} | tee "$out"
"${pin[@]}" "$bin" --calls "$CALLS" --warmup "$WARMUP" "$@" "$CONFIG" | tee -a "$out"
echo "# written to $out"
