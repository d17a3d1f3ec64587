#!/bin/sh
# run_conformance.sh — ctest's sdk_conformance: starts the mock upstream and `switchyard serve`
# with conformance.lua on free loopback ports, runs conformance.mjs (the official openai and
# @anthropic-ai/sdk npm clients) against it, and stops both.
# Usage: run_conformance.sh PATH/TO/switchyard PATH/TO/sy-mock-upstream [conformance.mjs args]
# (e.g. --only openai). The SDKs come from `make test-deps` (tools/ensure-npm-ci): without
# them this fails, it does not skip.
set -eu
bin=$1
mock=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)

command -v node >/dev/null || { echo "node not found: run \`make test-deps\` (it installs nodejs and npm)"; exit 1; }
stamp="$here/node_modules/.switchyard-lock-sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "the SDKs in tests/clients/node_modules are missing or not from package-lock.json:"
    echo "run \`make test-deps\` (npm ci from the lock file)"
    exit 1
fi

tmp=$(mktemp -d)
gw= mk=
cleanup() {
    [ -n "$gw" ] && kill "$gw" 2>/dev/null
    [ -n "$mk" ] && kill "$mk" 2>/dev/null
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

"$mock" --listen 127.0.0.1:0 >"$tmp/mock.out" 2>&1 &
mk=$!
for _ in $(seq 50); do grep -q '^listening on' "$tmp/mock.out" 2>/dev/null && break; sleep 0.1; done
mock_port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/mock.out")
[ -n "$mock_port" ] || { echo "the mock upstream did not start:"; cat "$tmp/mock.out"; exit 1; }

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
SY_MOCK_PORT=$mock_port "$bin" serve --config "$here/conformance.lua" --listen "127.0.0.1:$port" \
    2>"$tmp/gw.log" &
gw=$!
up=0
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && { up=1; break; }
    sleep 0.1
done
[ $up = 1 ] || { echo "switchyard did not answer /healthz:"; cat "$tmp/gw.log"; exit 1; }

echo "node $(node -v): conformance.mjs against http://127.0.0.1:$port $*"
rc=0
node "$here/conformance.mjs" "http://127.0.0.1:$port" "$@" || rc=$?
if [ $rc != 0 ]; then
    echo "--- switchyard log"
    tail -n 40 "$tmp/gw.log"
fi
exit $rc
