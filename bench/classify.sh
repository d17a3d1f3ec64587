#!/usr/bin/env bash
# classify.sh — the prompt classifier's figures (README.md "Classifier"): training time on the
# train split (6,822 rows) and on the whole file (8,483 rows), one core; routing quality on
# the test split (APGR, CPT(50%), CPT(80%), contaminated rows left out) of the default
# features and of the words2 baseline, each for the two routing scores 1 − P(weak) and
# P(strong) − P(weak); prediction time for a 1 KB prompt (sy-classify-bench, classify_bench.c).
# The shipped model (examples/eval/routellm-difficulty.bin) is measured the same way.
#
# Usage: bench/classify.sh BUILD_DIR
#
# Environment (defaults in brackets):
#   DATA [data/routing/routellm_train.jsonl]   routing data
#   CALLS [20000]    timed predictions (the median is reported)
#   PIN [auto]       auto: run on the last CPU (taskset) when there are 2+; 0: no pinning
#   OUT [bench/out]  models and the report (OUT/classify-<stamp>.txt)
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
sy=$build/switchyard
bench=$build/bench/sy-classify-bench
for b in "$sy" "$bench"; do
    if [ ! -x "$b" ]; then
        echo "classify.sh: $b not found; build it first: cmake --build $build" >&2
        exit 2
    fi
done
DATA=${DATA:-$root/data/routing/routellm_train.jsonl}
CALLS=${CALLS:-20000}
PIN=${PIN:-auto}
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
report=$OUT/classify-$(date +%Y%m%d-%H%M%S).txt
pin=()
if [ "$PIN" = auto ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin=(taskset -c $(($(nproc) - 1)))
fi

# train NAME ARGS...: trains OUT/classify-NAME.bin; prints "seconds bytes"
train() {
    local name=$1
    shift
    local model=$OUT/classify-$name.bin t0 t1
    t0=$(date +%s.%N)
    "${pin[@]}" "$sy" train --quiet --data "$DATA" --out "$model" "$@"
    t1=$(date +%s.%N)
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') $(stat -c %s "$model")"
}
field() { sed -n "s/.*[[:space:]]$1=\\([^[:space:]]*\\).*/\\1/p" <<<"$2"; }
# quality NAME MODEL: the bench's lines for the model, and a table row per score
quality() {
    local out
    out=$("${pin[@]}" "$bench" "$2" "$DATA" test "$CALLS")
    printf '%s\n' "$out" >>"$report"
    grep '^RESULT quality' <<<"$out" | while read -r line; do
        printf '%-28s %-20s %7s %7s %7s\n' "$1" "$(field score "$line")" \
            "$(field apgr "$line")" "$(field cpt50 "$line")" "$(field cpt80 "$line")"
    done
    grep '^RESULT predict bytes=1024 ' <<<"$out" >"$OUT/classify-predict-$1.txt" || true
}

{
    echo "# classify.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs (${pin[*]:-no pinning}), $(uname -srm)"
    echo "# data: $DATA"
} | tee "$report"

read -r t_train s_train < <(train default --split train)
read -r t_all s_all < <(train all --split all)
read -r t_w2 s_w2 < <(train words2 --split train --features words2)
{
    echo
    printf '%-44s %9s %12s\n' "training (one core, wall clock)" seconds "file bytes"
    printf '%-44s %9s %12s\n' "default, --split train (6,822 rows)" "$t_train" "$s_train"
    printf '%-44s %9s %12s\n' "default, --split all (8,483 rows)" "$t_all" "$s_all"
    printf '%-44s %9s %12s\n' "words2 baseline, --split train" "$t_w2" "$s_w2"
    echo
    echo "routing quality on the test split (contaminated rows left out; random = 0.5 APGR)"
    printf '%-28s %-20s %7s %7s %7s\n' model score APGR CPT50 CPT80
    quality default "$OUT/classify-default.bin"
    quality words2 "$OUT/classify-words2.bin"
    shipped=$root/examples/eval/routellm-difficulty.bin
    if [ -f "$shipped" ]; then quality shipped "$shipped"; fi
    echo
    line=$(cat "$OUT/classify-predict-default.txt")
    echo "predict, 1,024-byte prompt, one thread: median $(field median_us "$line") µs," \
        "p99 $(field p99_us "$line") µs over $(field calls "$line") calls"
} | tee -a "$report"
echo "# written to $report"
