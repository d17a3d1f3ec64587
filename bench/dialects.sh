#!/usr/bin/env bash
# dialects.sh — what the Anthropic dialect costs on top of Chat Completions, end to end
# through the gateway: the same conversation (a system prompt and ~1 KB of user text) sent
# as POST /v1/chat/completions and as POST /v1/messages, to one model on the mock upstream
# (an OpenAI-compatible endpoint, so /v1/messages pays its request and answer translation).
# Rounds alternate the two bodies; prints medians of max throughput (closed loop) and of
# p50/p99 at a fixed open-loop rate, and the ratio messages / chat.
#
# Usage: bench/dialects.sh BUILD_DIR   (environment: see bench/lib.sh)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup dialects "$@"
bench_start_mock
port=$(bench_freeport)
cat > "$tmp/config.lua" <<EOC
server { listen = "127.0.0.1:$port", workers = 1 }
provider { id = "mock", kind = "openai", base_url = "http://127.0.0.1:$up/v1", timeout_ms = 5000 }
model { id = "large", provider = "mock", upstream = "mock", context_window = 128000, max_output = 4096 }
EOC
bench_spawn "$sy" serve --config "$tmp/config.lua" 2> "$tmp/gw.log"
bench_wait_healthy "$port"

# The same ~1 KB of text in both dialects.
text=$(python3 -c 'print(("Our order #4411 arrived with a cracked lid; the courier left it at the wrong door. " * 12).strip())')
printf '{"model":"large","max_tokens":256,"messages":[{"role":"system","content":"You are a support agent."},{"role":"user","content":"%s"}]}' \
    "$text" > "$tmp/chat.json"
printf '{"model":"large","max_tokens":256,"system":"You are a support agent.","messages":[{"role":"user","content":"%s"}]}' \
    "$text" > "$tmp/messages.json"
path_of() { [ "$1" = messages ] && echo /v1/messages || echo /v1/chat/completions; }
for d in chat messages; do # both must answer 200 before anything is timed
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary @"$tmp/$d.json" "http://127.0.0.1:$port$(path_of $d)")
    [ "$code" = 200 ] || { echo "dialects.sh: $(path_of $d) answered $code" >&2; exit 1; }
done

run() { # dialect, then sy-loadgen's load options
    local d=$1
    shift
    "$lg" --url "http://127.0.0.1:$port$(path_of "$d")" --body "$tmp/$d.json" --duration "$DURATION" \
        --warmup "$WARMUP" --connections "$CONNS" "$@"
}
bench_rounds chat messages
bench_table "dialects.sh: one model on the mock, ~1 KB prompt" "chat messages" "messages:chat"
