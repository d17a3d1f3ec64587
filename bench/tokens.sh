#!/usr/bin/env bash
# tokens.sh — token counting speed: switchyard's tiktoken BPE (sy-tokens-bench, tokens_bench.c)
# and OpenAI's tiktoken (npm `tiktoken`, its Rust code compiled to WASM) on the same corpus, one
# thread each, for cl100k_base and o200k_base; the ratio; the two counts must be equal (else
# MISMATCH). Also from sy-tokens-bench: the hand-written pre-tokenizer against PCRE2 JIT running
# the same regex (speed, and the piece boundaries compared), and a 1 MB single word against
# 100 KB (linearity). See README.md, "Token counting". tiktoken is installed with `npm ci` into
# bench/node/node_modules from the committed package-lock.json.
#
# The corpus (>= MIN_MB MB of valid UTF-8) is built once from what a Debian machine has and
# kept in OUT/tokens-corpus.txt: licenses and copyright files, Perl's pod docs, English and
# translated man pages (rendered with man, or their roff source), Debian changelogs, C headers
# from /usr/include, Python's standard library, and this repository's sources and JSON.
#
# Usage: bench/tokens.sh BUILD_DIR
#
# Environment (defaults in brackets):
#   REPEAT [5]       runs per measurement inside each program; the best one is reported
#   MIN_MB [10]      the corpus is at least this big
#   CORPUS [OUT/tokens-corpus.txt]   corpus file (built when missing; REBUILD=1 rebuilds)
#   PIN [auto]       auto: run on the last CPU (taskset) when there are 2+; 0: no pinning
#   OUT [bench/out]  the output is also written to OUT/tokens-<stamp>.txt
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$build/bench/sy-tokens-bench
if [ ! -x "$bin" ]; then
    echo "tokens.sh: $bin not found; build it first: cmake --build $build --target sy-tokens-bench" >&2
    exit 2
fi
for tool in node npm iconv zcat; do
    if ! command -v $tool >/dev/null; then
        echo "tokens.sh: $tool not found" >&2
        exit 2
    fi
done

REPEAT=${REPEAT:-5}
MIN_MB=${MIN_MB:-10}
OUT=${OUT:-$here/out}
CORPUS=${CORPUS:-$OUT/tokens-corpus.txt}
PIN=${PIN:-auto}
mkdir -p "$OUT"
report=$OUT/tokens-$(date +%Y%m%d-%H%M%S).txt

pin=()
if [ "$PIN" = auto ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin=(taskset -c $(($(nproc) - 1)))
fi

# ---- corpus ------------------------------------------------------------------------------
# take BYTES READER FILE...: the files through READER (cat, zcat, render), at most BYTES.
render() { MANWIDTH=80 timeout 10 man -E UTF-8 -l "$1" 2>/dev/null | col -bx 2>/dev/null; }
take() {
    local budget=$1 reader=$2
    shift 2
    { for f in "$@"; do
        [ -f "$f" ] && [ -r "$f" ] || continue
        $reader "$f" 2>/dev/null || true
        printf '\n\n'
    done; } | head -c "$budget" || true
}
build_corpus() {
    local tmp=$CORPUS.tmp
    echo "tokens.sh: building the corpus in $CORPUS ..." >&2
    shopt -s nullglob
    {
        # English prose: licenses, copyright files, Perl's docs
        take 300000 cat /usr/share/common-licenses/*
        take 1200000 cat /usr/share/doc/*/copyright
        take 1500000 cat /usr/share/perl/5.*/pod/*.pod
        # man pages: English rendered, then every translation there is (rendered, then source)
        take 1000000 render /usr/share/man/man1/*.gz
        for dir in /usr/share/man/*/; do
            lang=$(basename "$dir")
            case $lang in man*) continue ;; esac
            pages=("$dir"man*/*.gz)
            [ ${#pages[@]} -gt 0 ] || continue
            take 120000 render "${pages[@]:0:10}"
            take 120000 zcat "${pages[@]:10}"
        done
        take 400000 zcat /usr/share/doc/*/changelog.Debian.gz
        # code: C headers, Python, this repository (C, Lua, Markdown, JSON)
        take 1500000 cat /usr/include/*.h /usr/include/*/*.h
        take 1500000 cat /usr/lib/python3*/*.py
        take 600000 cat "$root"/src/*/*.[ch] "$root"/lua/switchyard/*.lua "$root"/policies/*.lua \
            "$root"/*.md "$root"/bench/*.md
        take 500000 cat "$root"/tests/data/json-schema-test-suite/tests/draft2020-12/*.json
    } > "$tmp.raw"
    # top up to MIN_MB with more headers and Python
    local have
    have=$(stat -c %s "$tmp.raw")
    if [ "$have" -lt $((MIN_MB * 1000000 + 200000)) ]; then
        take $((MIN_MB * 1000000 + 200000 - have)) cat /usr/include/*/*/*.h \
            /usr/lib/python3*/*/*.py >> "$tmp.raw"
    fi
    iconv -f UTF-8 -t UTF-8 -c < "$tmp.raw" > "$tmp" || true # -c drops invalid bytes (exit 1)
    rm -f "$tmp.raw"
    local size
    size=$(stat -c %s "$tmp")
    if [ "$size" -lt $((MIN_MB * 1000000)) ]; then
        echo "tokens.sh: only $size bytes of corpus text found on this machine (want $MIN_MB MB)" >&2
        exit 1
    fi
    mv "$tmp" "$CORPUS"
}
if [ ! -s "$CORPUS" ] || [ "${REBUILD:-0}" = 1 ]; then build_corpus; fi
bytes=$(stat -c %s "$CORPUS")

# ---- npm tiktoken --------------------------------------------------------------------------
if [ ! -f "$here/node/node_modules/tiktoken/package.json" ] ||
    [ "$here/node/package-lock.json" -nt "$here/node/node_modules/.package-lock.json" ]; then
    (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
# shellcheck disable=SC2016
TIKTOKEN_JS='
const { get_encoding } = require("tiktoken");
const fs = require("fs");
const [file, reps] = [process.argv[1], Number(process.argv[2])];
const buf = fs.readFileSync(file), text = buf.toString("utf8");
for (const name of ["cl100k_base", "o200k_base"]) {
    const t0 = process.hrtime.bigint();
    const enc = get_encoding(name);
    const load = Number(process.hrtime.bigint() - t0) / 1e6;
    enc.encode_ordinary(text.slice(0, 200000)); // warm-up
    let best = Infinity, n = 0;
    for (let r = 0; r < reps; r++) {
        const t = process.hrtime.bigint();
        n = enc.encode_ordinary(text).length;
        best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
    }
    console.log(`RESULT tiktoken ${name} tokens=${n} seconds=${best.toFixed(4)} mbps=${(buf.length / best / 1e6).toFixed(1)} load_ms=${load.toFixed(1)}`);
    // one "word" of random a..z, 25 KB and 50 KB (1 MB would take minutes: quadratic)
    let x = 12345, w = "";
    for (let i = 0; i < 50000; i++) { x = (x * 1103515245 + 12345) % 2147483648; w += String.fromCharCode(97 + (x >> 16) % 26); }
    const t25 = process.hrtime.bigint();
    enc.encode_ordinary(w.slice(0, 25000));
    const t50 = process.hrtime.bigint();
    enc.encode_ordinary(w);
    const t1 = process.hrtime.bigint();
    const s25 = Number(t50 - t25) / 1e9, s50 = Number(t1 - t50) / 1e9;
    console.log(`RESULT tiktoken-word ${name} seconds_25k=${s25.toFixed(4)} seconds_50k=${s50.toFixed(4)} ratio=${(s50 / s25).toFixed(1)}`);
    enc.free();
}'

# ---- run -----------------------------------------------------------------------------------
{
    echo "# tokens.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs (${pin[*]:-no pinning}), $(uname -srm)"
    echo "# corpus: $CORPUS ($bytes bytes); REPEAT=$REPEAT; node $(node --version), tiktoken $(node -p 'require(process.argv[1]).version' "$here/node/node_modules/tiktoken/package.json")"
} | tee "$report"
sy_out=$("${pin[@]}" "$bin" "$CORPUS" "$REPEAT")
js_out=$(cd "$here/node" && "${pin[@]}" node -e "$TIKTOKEN_JS" "$CORPUS" "$REPEAT")
printf '%s\n%s\n' "$sy_out" "$js_out" | tee -a "$report"

# field NAME LINE: the value of NAME=... in LINE
field() { sed -n "s/.*[[:space:]]$1=\\([^[:space:]]*\\).*/\\1/p" <<<"$2"; }
status=0
{
    echo
    printf '%-12s %14s %14s %8s   %s\n' encoding "switchyard" "tiktoken npm" ratio counts
    for enc in cl100k_base o200k_base; do
        sy=$(grep "^RESULT count $enc " <<<"$sy_out")
        js=$(grep "^RESULT tiktoken $enc " <<<"$js_out")
        sy_mbps=$(field mbps "$sy")
        js_mbps=$(field mbps "$js")
        sy_n=$(field tokens "$sy")
        js_n=$(field tokens "$js")
        ratio=$(awk -v a="$sy_mbps" -v b="$js_mbps" 'BEGIN { printf "%.1fx", a / b }')
        if [ "$sy_n" = "$js_n" ]; then
            same="equal ($sy_n tokens)"
        else
            same="MISMATCH: switchyard $sy_n, tiktoken $js_n  <<<<<<<<<<<<<<<<"
            status=1
        fi
        printf '%-12s %9s MB/s %9s MB/s %8s   %s\n' "$enc" "$sy_mbps" "$js_mbps" "$ratio" "$same"
    done
    echo
    printf '%-12s %14s %14s %8s   %s\n' "pre-tokenizer" "hand-written" "PCRE2 JIT" ratio "piece boundaries"
    for enc in cl100k_base o200k_base; do
        hand=$(grep "^RESULT split hand $enc " <<<"$sy_out")
        pcre=$(grep "^RESULT split pcre2 $enc " <<<"$sy_out" || true)
        h=$(field mbps "$hand")
        p=$(field mbps "$pcre")
        if [ -n "$p" ]; then
            b=$(field boundaries "$pcre")
            [ "$b" = identical ] || status=1
            printf '%-12s %9s MB/s %9s MB/s %8s   %s\n' "$enc" "$h" "$p" \
                "$(awk -v a="$h" -v b="$p" 'BEGIN { printf "%.1fx", a / b }')" "$b"
        else
            printf '%-12s %9s MB/s %14s\n' "$enc" "$h" "n/a"
        fi
    done
    echo
    for enc in cl100k_base o200k_base; do
        w=$(grep "^RESULT word $enc " <<<"$sy_out")
        printf '%-12s switchyard: 1 MB single word %ss, 100 KB %ss: ratio %s (10 is linear)\n' \
            "$enc" "$(field seconds_1m "$w")" "$(field seconds_100k "$w")" "$(field ratio "$w")"
        w=$(grep "^RESULT tiktoken-word $enc " <<<"$js_out")
        printf '%-12s tiktoken:   50 KB single word %ss, 25 KB %ss: ratio %s (2 is linear)\n' \
            "$enc" "$(field seconds_50k "$w")" "$(field seconds_25k "$w")" "$(field ratio "$w")"
    done
} | tee -a "$report"
echo "# written to $report"
exit $status
