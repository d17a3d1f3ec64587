#!/usr/bin/env bash
# gateway.sh — one loopback run: mock upstream direct vs nginx proxy_pass vs switchyard (see README.md).
#
# Usage: bench/gateway.sh BUILD_DIR        (`make bench` runs ./bench/gateway.sh build)
#
# For each target (the mock upstream alone, nginx in front of it, switchyard in front of it):
#   max throughput   wrk, closed loop, MAX_CONNS connections, MAX_DURATION s, REPEATS runs, median
#   latency          sy-loadgen, open loop at RATE req/s, WARMUP s unmeasured then DURATION s,
#                    REPEATS runs, median of each percentile
# Targets run in rounds (direct, nginx, switchyard, direct, ...) so slow drift of the machine
# hits all three alike. Every stack is started once, on free loopback ports, and everything
# is killed on exit. Raw results go to bench/out/<stamp>/.
#
# Environment (defaults in brackets):
#   DURATION [10]  MAX_DURATION [DURATION]  WARMUP [2]  RATE [2000]  REPEATS [3]
#   CONNS [32] (open loop)  MAX_CONNS [64] (wrk)  WRK_THREADS [1]  WORKERS [1]
#   SPIN_US [0]  sy-loadgen --spin-us (busy-poll before sends; see README)
#   IDLE_POLL [1]  hold /dev/cpu_dma_latency at 0 during the run: idle CPUs poll instead of
#                  halting, so a wake-up is not a VM exit (see README); 0: leave it alone
#   PIN [auto]     auto: with 2+ CPUs the process under test gets a CPU of its own; 0: no pinning
#   TARGETS ["direct nginx switchyard"]   MODES ["max rate"]   OUT [bench/out]
#   LOADGEN=max    max throughput with sy-loadgen --max instead of wrk
#
# Exit status: 0 when every target started and answered every request with a 2xx; 1 otherwise
# (the figures that could be measured are still printed); 2 on bad usage.
set -euo pipefail

if [[ $# -ne 1 || ! -d $1 ]]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)

DURATION=${DURATION:-10}
MAX_DURATION=${MAX_DURATION:-$DURATION}
WARMUP=${WARMUP:-2}
RATE=${RATE:-2000}
REPEATS=${REPEATS:-3}
CONNS=${CONNS:-32}
MAX_CONNS=${MAX_CONNS:-64}
WRK_THREADS=${WRK_THREADS:-1}
WORKERS=${WORKERS:-1}
SPIN_US=${SPIN_US:-0}
IDLE_POLL=${IDLE_POLL:-1}
PIN=${PIN:-auto}
TARGETS=${TARGETS:-"direct nginx switchyard"}
MODES=${MODES:-"max rate"}
LOADGEN_MAX=${LOADGEN:-wrk}

LOADGEN_BIN=$BUILD/bench/sy-loadgen
MOCK_BIN=$BUILD/tests/mock/sy-mock-upstream
SY_BIN=$BUILD/switchyard
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
WRK_BIN=$(command -v wrk || true)

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-$HERE/out}/$STAMP
TMP=""

# ---------------------------------------------------------------------------------------
# Cleanup: every daemon runs in its own session (setsid), so killing the session's process
# group takes its workers too, whatever they are.
# ---------------------------------------------------------------------------------------
PGIDS=()
# shellcheck disable=SC2317  # runs from the trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local g
    for g in "${PGIDS[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
    for _ in $(seq 30); do
        local alive=0
        for g in "${PGIDS[@]}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for g in "${PGIDS[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
    if [[ -n $TMP ]]; then
        cp -f "$TMP"/*.log "$OUT/logs/" 2>/dev/null || true
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
TMP=$(mktemp -d /tmp/sy-bench.XXXXXX)
mkdir -p "$OUT/logs"

log() { printf '%s\n' "$*" >&2; }
die() { log "gateway.sh: $*"; exit 1; }

# ---------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------
[[ -x $LOADGEN_BIN ]] || die "$LOADGEN_BIN missing: build the sy-loadgen target"
[[ -x $MOCK_BIN ]] || die "$MOCK_BIN missing: build the sy-mock-upstream target"
command -v curl >/dev/null || die "curl is needed for the health checks"
if [[ $LOADGEN_MAX == wrk && -z $WRK_BIN ]]; then
    log "gateway.sh: wrk not found; max throughput falls back to sy-loadgen --max"
    LOADGEN_MAX=max
fi

# CPU placement. The process under test (the mock for `direct`, the proxy otherwise) gets a
# CPU to itself; the load generator and, behind a proxy, the mock share the rest. With 3+ CPUs
# the load generator and the mock each get their own as well.
# The CPUs this script may use (it may itself run inside a cpuset), as a list of numbers.
CPUS=()
IFS=, read -r -a ranges <<<"$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)"
for range in "${ranges[@]}"; do
    for c in $(seq "${range%-*}" "${range#*-}"); do CPUS+=("$c"); done
done
NCPU=${#CPUS[@]}
if [[ $PIN == 0 || $NCPU -lt 2 ]]; then
    PIN=0
    CPU_LOAD="" CPU_SUT="" CPU_MOCK=""
elif [[ $NCPU -ge 3 ]]; then
    CPU_LOAD=${CPUS[0]} CPU_SUT=${CPUS[1]} CPU_MOCK=${CPUS[2]}
else
    CPU_LOAD=${CPUS[0]} CPU_SUT=${CPUS[1]} CPU_MOCK=${CPUS[0]}
fi
on_cpu() { # on_cpu CPU CMD... : CMD pinned to CPU, or unpinned when CPU is empty
    local cpu=$1
    shift
    if [[ -n $cpu ]]; then taskset -c "$cpu" "$@"; else "$@"; fi
}

# ---------------------------------------------------------------------------------------
# Request bodies (~1 KB): the same chat request, model "mock" direct and through nginx,
# "auto" (the routing policy) through switchyard.
# ---------------------------------------------------------------------------------------
make_body() {
    local model=$1 text="Summarise: "
    for _ in $(seq 15); do text+="The quick brown fox jumps over the lazy dog, again and again. "; done
    printf '{"model":"%s","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"%s"}]}' \
        "$model" "${text% }"
}
make_body mock >"$TMP/body-mock.json"
make_body auto >"$TMP/body-auto.json"
cp "$TMP/body-mock.json" "$TMP/body-auto.json" "$OUT/"

# ---------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------
free_port() { # a loopback port nothing listens on, outside the usual ephemeral range
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

start() { # start NAME CPU CMD... : runs CMD in its own session; sets PID
    local name=$1 cpu=$2
    shift 2
    # taskset and setsid exec in place (a background job of a script is never a group
    # leader), so $! is the daemon itself and the leader of its own process group. Not via
    # on_cpu: a backgrounded shell function would make $! a subshell.
    local cmd=(setsid "$@")
    [[ -n $cpu ]] && cmd=(taskset -c "$cpu" "${cmd[@]}")
    "${cmd[@]}" >"$TMP/$name.log" 2>&1 </dev/null &
    PID=$!
    PGIDS+=("$PID")
}

wait_http() { # wait_http NAME PID URL : until URL answers 200 (10 s), the process must live
    local name=$1 pid=$2 url=$3
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "gateway.sh: $name exited during startup; last lines of its log:"
            tail -n 20 "$TMP/$name.log" >&2 || true
            return 1
        fi
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "gateway.sh: $name did not answer $url within 10 s; last lines of its log:"
    tail -n 20 "$TMP/$name.log" >&2 || true
    return 1
}

start_mock() { # start_mock NAME CPU : sets MOCK_PORT
    local name=$1 cpu=$2
    start "$name" "$cpu" "$MOCK_BIN" --listen 127.0.0.1:0 --threads "$WORKERS"
    local pid=$PID
    MOCK_PORT=""
    for _ in $(seq 100); do
        MOCK_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/$name.log")
        [[ -n $MOCK_PORT ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z $MOCK_PORT ]]; then
        log "gateway.sh: $name did not report its port"
        tail -n 20 "$TMP/$name.log" >&2 || true
        return 1
    fi
    wait_http "$name" "$pid" "http://127.0.0.1:$MOCK_PORT/v1/models"
}

write_nginx_conf() { # write_nginx_conf DIR PORT UPSTREAM_PORT
    local dir=$1 port=$2 up=$3
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
# generated by bench/gateway.sh: one plain proxy hop, keep-alive on both sides
daemon off;
master_process on;
worker_processes $WORKERS;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    upstream mock {
        server 127.0.0.1:$up;
        keepalive 256;
        keepalive_requests 100000000;
        keepalive_timeout 120s;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}

write_sy_conf() { # write_sy_conf DIR PORT UPSTREAM_PORT
    local dir=$1 port=$2 up=$3
    mkdir -p "$dir"
    cat >"$dir/switchyard.lua" <<EOF
-- generated by bench/gateway.sh
server { listen = "127.0.0.1:$port", workers = $WORKERS }
provider { id = "mock", kind = "openai", base_url = "http://127.0.0.1:$up/v1", timeout_ms = 5000 }
model { id = "small", provider = "mock", upstream = "mock", price = { input = 0.00015, output = 0.0006 }, context_window = 128000, max_output = 4096 }
model { id = "large", provider = "mock", upstream = "mock", price = { input = 0.0025, output = 0.01 }, context_window = 128000, max_output = 4096 }
route { name = "auto", policy = "policy.lua", default = "large" }
EOF
    cat >"$dir/policy.lua" <<'EOF'
-- generated by bench/gateway.sh: short or extraction requests try the small model first
local sy = require "switchyard"
return { name = "bench", route = function(req, ctx)
  if req.meta.task == "extract" or #req.text < 2000 then return sy.chain{ "small", "large", reason = "short" } end
  return sy.pick("large", { reason = "long" })
end }
EOF
}

# Each target: URL, body, and the process group whose CPU time is reported.
declare -A URL BODY SUT_PID STATUS
start_target() { # start_target TARGET : 0 when it is up and answers the smoke request
    local t=$1 port attempt
    START_ERR="did not start"
    case $t in
    direct)
        start_mock mock-direct "$CPU_SUT" || return 1
        URL[$t]=http://127.0.0.1:$MOCK_PORT/v1/chat/completions
        BODY[$t]=$TMP/body-mock.json
        SUT_PID[$t]=${PGIDS[-1]}
        ;;
    nginx)
        [[ -x $NGINX_BIN ]] || { log "gateway.sh: nginx not found"; return 1; }
        start_mock mock-nginx "$CPU_MOCK" || return 1
        for attempt in 1 2 3; do
            port=$(free_port) || return 1
            write_nginx_conf "$TMP/nginx" "$port" "$MOCK_PORT"
            start nginx "$CPU_SUT" "$NGINX_BIN" -e "$TMP/nginx/error.log" -p "$TMP/nginx" \
                -c "$TMP/nginx/nginx.conf"
            if wait_http nginx "$PID" "http://127.0.0.1:$port/v1/models"; then break; fi
            cp -f "$TMP/nginx/error.log" "$TMP/nginx-error.log" 2>/dev/null || true
            [[ $attempt == 3 ]] && return 1
        done
        URL[$t]=http://127.0.0.1:$port/v1/chat/completions
        BODY[$t]=$TMP/body-mock.json
        SUT_PID[$t]=$PID
        ;;
    switchyard)
        [[ -x $SY_BIN ]] || { log "gateway.sh: $SY_BIN missing"; return 1; }
        start_mock mock-switchyard "$CPU_MOCK" || return 1
        for attempt in 1 2 3; do
            port=$(free_port) || return 1
            write_sy_conf "$TMP/switchyard" "$port" "$MOCK_PORT"
            # From the config's directory, so `policy = "policy.lua"` resolves either way.
            cd "$TMP/switchyard"
            start switchyard "$CPU_SUT" "$SY_BIN" serve --config "$TMP/switchyard/switchyard.lua" \
                --workers "$WORKERS"
            cd - >/dev/null
            if wait_http switchyard "$PID" "http://127.0.0.1:$port/healthz"; then break; fi
            [[ $attempt == 3 ]] && return 1
        done
        URL[$t]=http://127.0.0.1:$port/v1/chat/completions
        BODY[$t]=$TMP/body-auto.json
        SUT_PID[$t]=$PID
        ;;
    *)
        log "gateway.sh: unknown target $t"
        return 1
        ;;
    esac
    # Smoke request: a 200 carrying a chat completion, before any load.
    local code
    code=$(curl -sS -o "$TMP/smoke-$t.json" -w '%{http_code}' --max-time 5 \
        -H 'Content-Type: application/json' --data-binary "@${BODY[$t]}" "${URL[$t]}") || code=000
    cp -f "$TMP/smoke-$t.json" "$OUT/smoke-$t.json" 2>/dev/null || true
    if [[ $t == switchyard ]] && ! grep -q '"model":"small"' "$TMP/smoke-$t.json"; then
        log "gateway.sh: warning: the policy should route this short request to \"small\"; got: $(head -c 300 "$TMP/smoke-$t.json")"
    fi
    if [[ $code != 200 ]] || ! grep -q '"choices"' "$TMP/smoke-$t.json"; then
        log "gateway.sh: $t: smoke request got HTTP $code: $(head -c 300 "$TMP/smoke-$t.json" 2>/dev/null)"
        START_ERR="smoke request failed (HTTP $code)"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------
jget() { # jget FIELD FILE : a number from a flat one-line JSON object
    sed -n "s/.*\"$1\":\(-\{0,1\}[0-9][0-9.eE+-]*\).*/\1/p" "$2" | tail -n 1
}

pg_ticks() { # pg_ticks PGID : user+system clock ticks of every process in that group
    local p sum=0 rest fields
    for p in $(pgrep -g "$1" 2>/dev/null); do
        rest=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        rest=${rest##*) }
        # fields after "comm": state ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime stime ...
        read -r -a fields <<<"$rest"
        sum=$((sum + fields[11] + fields[12]))
    done
    echo "$sum"
}

cpu_busy_ticks() { # "busy total" ticks of the whole machine, from /proc/stat
    awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

HZ=$(getconf CLK_TCK)
measure() { # measure TARGET KIND ROUND : runs one measurement, writes OUT/TARGET-KIND-ROUND.json
    local t=$1 kind=$2 r=$3 f="$OUT/$1-$2-$3.json" rc=0
    local sut0 sut1 mb0 mt0 mb1 mt1 t0 t1
    sut0=$(pg_ticks "${SUT_PID[$t]}")
    read -r mb0 mt0 < <(cpu_busy_ticks)
    t0=$(date +%s.%N)
    if [[ $kind == max && $LOADGEN_MAX == wrk ]]; then
        BODY_FILE=${BODY[$t]} on_cpu "$CPU_LOAD" timeout --foreground $((MAX_DURATION + 30)) "$WRK_BIN" \
            -t "$WRK_THREADS" -c "$MAX_CONNS" -d "${MAX_DURATION}s" --timeout 5s \
            -s "$HERE/post.lua" "${URL[$t]}" >"$f.raw" 2>&1 || rc=$?
        tail -n 1 "$f.raw" >"$f"
    elif [[ $kind == max ]]; then
        on_cpu "$CPU_LOAD" timeout --foreground $((MAX_DURATION + 30)) "$LOADGEN_BIN" --max --url "${URL[$t]}" \
            --duration "$MAX_DURATION" --connections "$MAX_CONNS" --body "${BODY[$t]}" \
            >"$f" 2>"$f.err" || rc=$?
    elif [[ $kind == maxwarm ]]; then # unmeasured: fills keep-alive pools, JIT, caches
        BODY_FILE=${BODY[$t]} on_cpu "$CPU_LOAD" timeout --foreground $((WARMUP + 30)) "$LOADGEN_BIN" --max \
            --url "${URL[$t]}" --duration "$WARMUP" --connections "$MAX_CONNS" \
            --body "${BODY[$t]}" >"$f" 2>"$f.err" || rc=$?
    else
        on_cpu "$CPU_LOAD" timeout --foreground $(( $(printf '%.0f' "$DURATION") + WARMUP + 30)) "$LOADGEN_BIN" \
            --url "${URL[$t]}" --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP" \
            --connections "$CONNS" --spin-us "$SPIN_US" --body "${BODY[$t]}" \
            >"$f" 2>"$f.err" || rc=$?
    fi
    t1=$(date +%s.%N)
    sut1=$(pg_ticks "${SUT_PID[$t]}")
    read -r mb1 mt1 < <(cpu_busy_ticks)
    # CPU use over the run: the process under test, in % of one CPU; the machine, in % of all.
    # rps_per_core: throughput over the CPU the process under test used: roughly what it would
    # serve with a whole CPU to itself (an estimate on the low side: a process that is not
    # saturated wakes up more often per request and batches less).
    local extra rps
    rps=$(jget rps "$f")
    [[ -n $rps ]] || rps=$(jget achieved_rps "$f")
    extra=$(awk -v s=$((sut1 - sut0)) -v hz="$HZ" -v t0="$t0" -v t1="$t1" -v rps="${rps:-0}" \
        -v mb=$((mb1 - mb0)) -v mt=$((mt1 - mt0)) 'BEGIN {
            cpu = s / hz / (t1 - t0)
            printf "\"sut_cpu_pct\":%.0f,\"rps_per_core\":%.0f,\"machine_cpu_pct\":%.0f",
                100 * cpu, (cpu > 0 ? rps / cpu : 0), (mt ? 100 * mb / mt : 0) }')
    if [[ -s $f ]]; then sed -i "s/}\$/,$extra}/" "$f"; fi
    # A failed run keeps its files, renamed so that no median includes it.
    if [[ $rc -ne 0 && $kind != maxwarm ]] || ! grep -q '^{' "$f" 2>/dev/null; then
        log "gateway.sh: $t $kind run $r failed (exit $rc): $(tail -n 3 "$f.err" 2>/dev/null)"
        mv -f "$f" "$f.failed" 2>/dev/null || true
        return 1
    fi
    # Any failed request fails the target.
    local bad
    if [[ $kind == max && $LOADGEN_MAX == wrk ]]; then
        bad=$(awk -F'[:,}]' '{ s = 0; for (i = 1; i < NF; i++) if ($i ~ /_errors"$|"non2xx"$|"timeouts"$/) s += $(i + 1); print s }' "$f")
    else
        bad=$(($(jget errors "$f") + $(jget non2xx "$f")))
    fi
    if [[ $bad != 0 && $kind != maxwarm ]]; then
        log "gateway.sh: $t $kind run $r: $bad failed requests: $(cat "$f")"
        mv -f "$f" "$f.failed"
        return 1
    fi
    return 0
}

median() { # median VALUES... (empty when none)
    printf '%s\n' "$@" | awk '/^[0-9.]+$/' | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

collect() { # collect TARGET KIND FIELD : the median of FIELD over the rounds
    local vals=() r
    for r in $(seq "$REPEATS"); do
        [[ -s $OUT/$1-$2-$r.json ]] && vals+=("$(jget "$3" "$OUT/$1-$2-$r.json")")
    done
    median "${vals[@]}"
}

# ---------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------
# A PM QoS request lives as long as the file stays open: a helper holds it, in its own
# session like the daemons, so cleanup ends it and the machine goes back to normal. The
# helper also quits by itself once this script is gone, even if it was killed with -9.
IDLE_NOTE="not requested"
if [[ $IDLE_POLL == 1 ]]; then
    if [[ -w /dev/cpu_dma_latency ]]; then
        setsid sh -c "printf '\\000\\000\\000\\000'; while kill -0 $$ 2>/dev/null; do sleep 1; done" \
            >/dev/cpu_dma_latency 2>/dev/null </dev/null &
        PGIDS+=("$!")
        IDLE_NOTE="cpu_dma_latency held at 0 (idle CPUs poll; $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo '?') cpuidle)"
    else
        IDLE_NOTE="cpu_dma_latency not writable: idle CPUs may halt (noisier latency)"
    fi
fi

{
    echo "date: $(date -Is)"
    echo "host: $(uname -srm), $NCPU CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "nginx: $("$NGINX_BIN" -v 2>&1 | sed 's/.*: //')  wrk: $([[ -n $WRK_BIN ]] && "$WRK_BIN" -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
    echo "switchyard: $("$SY_BIN" --version 2>/dev/null | head -n 1 || echo '?')"
    echo "settings: DURATION=$DURATION MAX_DURATION=$MAX_DURATION WARMUP=$WARMUP RATE=$RATE REPEATS=$REPEATS CONNS=$CONNS MAX_CONNS=$MAX_CONNS WRK_THREADS=$WRK_THREADS WORKERS=$WORKERS SPIN_US=$SPIN_US max-loadgen=$LOADGEN_MAX"
    if [[ $PIN == 0 ]]; then
        echo "pinning: none"
    else
        echo "pinning: load generator CPU $CPU_LOAD; process under test CPU $CPU_SUT; mock behind a proxy CPU $CPU_MOCK"
    fi
    echo "idle: $IDLE_NOTE"
} | tee "$OUT/env.txt" >&2

FAILED=0
UP=()
for t in $TARGETS; do
    log "starting $t"
    if start_target "$t"; then
        UP+=("$t")
        STATUS[$t]=ok
    else
        STATUS[$t]=$START_ERR
        FAILED=1
    fi
done

for t in "${UP[@]}"; do
    log "warming up $t (${WARMUP}s)"
    measure "$t" maxwarm 0 || true
done
for r in $(seq "$REPEATS"); do
    for t in "${UP[@]}"; do
        for m in $MODES; do
            [[ ${STATUS[$t]} == ok ]] || continue
            if [[ $m == max ]]; then
                log "round $r/$REPEATS: $t max throughput (${MAX_DURATION}s)"
            else
                log "round $r/$REPEATS: $t at $RATE req/s (${WARMUP}s + ${DURATION}s)"
            fi
            measure "$t" "$m" "$r" || { STATUS[$t]="requests failed"; FAILED=1; }
        done
    done
done

# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------
RPS_FIELD=rps
[[ $LOADGEN_MAX == wrk ]] || RPS_FIELD=achieved_rps
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
added() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "n/a"; else printf "%+.1f us", a - b }'; }
declare -A MAXRPS PERCORE P50 P99
for t in $TARGETS; do
    MAXRPS[$t]=$(collect "$t" max "$RPS_FIELD")
    PERCORE[$t]=$(collect "$t" max rps_per_core)
    P50[$t]=$(collect "$t" rate p50_us)
    P99[$t]=$(collect "$t" rate p99_us)
done
{
    echo
    echo "                 max throughput ($LOADGEN_MAX)          |  latency at $RATE req/s (sy-loadgen, open loop)"
    printf '%-11s %9s %5s %9s %5s | %7s %7s %7s %7s %5s %5s  %s\n' target rps cpu% rps/core mach% \
        p50_us p90_us p99_us p999_us cpu% lag status
    for t in $TARGETS; do
        printf '%-11s %9s %5s %9s %5s | %7s %7s %7s %7s %5s %5s  %s\n' "$t" "${MAXRPS[$t]:--}" \
            "$(collect "$t" max sut_cpu_pct)" "${PERCORE[$t]:--}" \
            "$(collect "$t" max machine_cpu_pct)" "${P50[$t]:--}" "$(collect "$t" rate p90_us)" \
            "${P99[$t]:--}" "$(collect "$t" rate p999_us)" "$(collect "$t" rate sut_cpu_pct)" \
            "$(collect "$t" rate send_lag_p50_us)" "${STATUS[$t]:-not run}"
    done
    echo "medians of $REPEATS runs. max: $MAX_CONNS connections, ${MAX_DURATION}s. latency: $CONNS" \
        "connections, ${DURATION}s after ${WARMUP}s unmeasured."
    echo "cpu% = the process under test (the mock for direct, else the proxy) in % of one CPU;" \
        "rps/core = rps / that CPU;"
    echo "mach% = the whole machine, anything else running included; lag = sy-loadgen's own" \
        "p50 send delay, included in every latency figure."
    echo
    echo "switchyard / nginx, max throughput:     $(ratio "${MAXRPS[switchyard]:-}" "${MAXRPS[nginx]:-}")  (target >= 0.75)"
    echo "switchyard / nginx, rps per proxy core: $(ratio "${PERCORE[switchyard]:-}" "${PERCORE[nginx]:-}")"
    echo "nginx / direct, max throughput:         $(ratio "${MAXRPS[nginx]:-}" "${MAXRPS[direct]:-}")"
    echo "added p50 at $RATE req/s, nginx:        $(added "${P50[nginx]:-}" "${P50[direct]:-}")  (p99 $(added "${P99[nginx]:-}" "${P99[direct]:-}"))"
    echo "added p50 at $RATE req/s, switchyard:   $(added "${P50[switchyard]:-}" "${P50[direct]:-}")  (p99 $(added "${P99[switchyard]:-}" "${P99[direct]:-}"); target p50 < 100 us)"
    echo
    echo "raw results: $OUT"
} | tee "$OUT/summary.txt"

rm -f "$OUT"/*-maxwarm-*.json*
find "$OUT" -maxdepth 1 -name '*.err' -empty -delete
ln -sfn "$STAMP" "$(dirname "$OUT")/latest"
exit "$FAILED"
