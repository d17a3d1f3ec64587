#!/bin/sh
# check_embed.sh — the ctest `embed_example`: runs examples/embed/embed on a config and asserts
# what a library user relies on (see CMakeLists.txt). Checks the shape of decisions, not reasons,
# so it holds whichever policy the config's route "auto" uses.
#
# Usage: check_embed.sh EMBED_BINARY CONFIG
set -u
bin=$1
config=$2
out=$(mktemp /tmp/sy-embed-out.XXXXXX) || exit 1
trap 'rm -f "$out"' EXIT INT TERM
fails=0

fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

# expect_line PATTERN WHAT: some output line matches the grep -E PATTERN
expect_line() {
    grep -Eq -- "$1" "$out" || fail "$2 (no line matches: $1)"
}

"$bin" "$config" >"$out" 2>"$out.err"
rc=$?
cat "$out"
if [ -s "$out.err" ]; then
    echo "--- stderr" && cat "$out.err"
fi
rm -f "$out.err"
[ "$rc" -eq 0 ] || fail "embed exited with status $rc"

expect_line "^config .*quickstart\.lua: SY_OK$" "the config opens"

# Every routed request gives a decision with all the documented fields, in order.
shape='\{"route":("[^"]*"|null),"policy":("[^"]*"|null),"kind":"(pick|chain|cascade|hedge)","model":"[^"]+","chain":\["[^"]+"(,"[^"]+")*\],"reason":"[^"]*","tokens":[0-9]+,.*"fallback_used":false'
for req in short password_reset long direct override; do
    expect_line "^request $req: SY_OK $shape" "request $req has a complete decision"
done

# Metadata routing: password_reset goes to the "small" model first, whatever the policy.
expect_line '^request password_reset: SY_OK \{"route":"auto",.*"model":"small","chain":\["small"' \
    "password_reset is routed to small first"
expect_line '^request override: SY_OK \{"route":"auto",.*"model":"small","chain":\["small"' \
    "the route argument overrides the request's model"
# A model asked for by name is a pick of that model, without a route or policy.
expect_line '^request direct: SY_OK \{"route":null,"policy":null,"kind":"pick","model":"medium","chain":\["medium"\]' \
    "a registry model by name is picked directly"
# The long prompt (48 KB) does not go to the 16k-token "small" model first.
expect_line '^request long: SY_OK \{"route":"auto",.*"model":"(medium|large)"' \
    "the long prompt goes to a bigger model"

# Errors: negative codes and a message.
expect_line "^request unknown_model: SY_ENOTFOUND \(-5\): .*gpt-17" "unknown model gives SY_ENOTFOUND"
expect_line "^request bad_json: SY_EINVAL \(-2\): ." "malformed JSON gives SY_EINVAL"
expect_line "^request no_messages: SY_EINVAL \(-2\): ." "a request without messages gives SY_EINVAL"

# A broken config: SY_ECONFIG and one "file:line: key: message" line per problem.
expect_line "^config broken: SY_ECONFIG \(-3\)$" "the broken config gives SY_ECONFIG"
expect_line "^config broken:   /tmp/sy-embed-[^/]+/broken\.lua:2: model\[small\]\.contxt_window: unknown key" \
    "the misspelt key is reported with its file:line"
expect_line "^config broken:   /tmp/sy-embed-[^/]+/broken\.lua:3: [^ ]+provider: " \
    "the unknown provider is reported with its file:line"
expect_line "^config broken: route on it: SY_E[A-Z]+ \(-[0-9]\)$" "a failed engine refuses to route"
expect_line "^config missing: SY_E[A-Z]+ \(-[0-9]\)$" "a missing config file is an error"
expect_line "^embed: done \(0 failures\)$" "embed reports no failure"

if [ "$fails" -ne 0 ]; then
    echo "embed_example: $fails check(s) failed" >&2
    exit 1
fi
echo "embed_example: all checks passed"
