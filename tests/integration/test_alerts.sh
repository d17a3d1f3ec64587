#!/bin/sh
# test_alerts.sh — examples/prometheus/alerts.yml is valid for promtool, every metric it (and
# the Grafana dashboard) names exists in a live /metrics scrape, and the scrape itself passes
# promtool's exposition-format check. Usage: test_alerts.sh PATH/TO/switchyard SOURCE_DIR
set -eu
bin=$1
src=$2
command -v promtool >/dev/null || { echo "promtool not found: install prometheus (make test does)"; exit 1; }
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

promtool check rules "$src/examples/prometheus/alerts.yml"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/config.lua" <<EOC
server { listen = "127.0.0.1:$port", workers = 1 }
provider { id = "sim", kind = "sim", time_scale = 0 }
model { id = "small", provider = "sim", price = { input = 0.001, output = 0.002 } }
EOC
"$bin" serve --config "$tmp/config.lua" 2>"$tmp/gw.log" &
pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$port/v1/chat/completions" \
    -d '{"model":"small","messages":[{"role":"user","content":"hi"}]}' >/dev/null
curl -fs "http://127.0.0.1:$port/metrics" > "$tmp/scrape.txt"
promtool check metrics < "$tmp/scrape.txt"

fail=0
for name in $(cat "$src/examples/prometheus/alerts.yml" "$src/examples/grafana/switchyard.json" |
              grep -o 'switchyard_[a-z_]*' | sort -u); do
    if ! grep -q "^$name[{ ]" "$tmp/scrape.txt"; then
        echo "not in the scrape: $name"
        fail=1
    fi
done
[ $fail = 0 ] && echo "every metric named by the alerts and the dashboard is in the scrape"
exit $fail
