#!/usr/bin/env bash
# Contract fuzzing: runs schemathesis (from PyPI, in a venv cached under
# ~/.cache/petit-chat) against the OpenAPI document of an embedded Petit chat server
# started here on a free loopback port with a throw-away data directory. Checks that no
# request gets a 5xx and that every response's status code, content type and body match
# what /openapi.json documents. Logged in as `fuzzer` (dev login); a second user, a group
# chat and a message give the path parameters real ids to hit. Bounded and seeded: the
# same inputs every run. Every phase (examples, coverage, fuzzing, stateful: sequences of
# calls along the document's links) and every check but one (below). Exits non-zero, with
# schemathesis's report, on any failure.
#
# Needs target/debug/petit-chat (scripts/test builds it first; or PETIT_CHAT_BIN=…),
# python3 (3.9+) and curl. Knobs: PETIT_CHAT_CONTRACT_MAX_EXAMPLES (per operation),
# PETIT_CHAT_CONTRACT_SEED, PETIT_CHAT_CONTRACT_CHECKS, PETIT_CHAT_CONTRACT_EXCLUDED_CHECKS,
# PETIT_CHAT_CONTRACT_PHASES, PETIT_CHAT_CONTRACT_ARGS (more `schemathesis run` arguments,
# split on spaces: e.g. "--continue-on-failure --report junit").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${PETIT_CHAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/petit-chat}
SCHEMATHESIS_VERSION=4.32.5
VENV=$CACHE/schemathesis-venv
BIN=${PETIT_CHAT_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/petit-chat}
MAX_EXAMPLES=${PETIT_CHAT_CONTRACT_MAX_EXAMPLES:-100}
SEED=${PETIT_CHAT_CONTRACT_SEED:-20261201}

say() { printf '[contract] %s\n' "$*" >&2; }
die() { printf 'contract: error: %s\n' "$*" >&2; exit 1; }

for tool in python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done
[[ -x $BIN ]] || die "$BIN does not exist: build it first (cargo build -p petit-chat)"

# ---- schemathesis, pinned, in its own venv (reused while it has the pinned version) ----
if [[ $("$VENV/bin/schemathesis" --version 2>/dev/null || true) != *"version $SCHEMATHESIS_VERSION" ]]; then
    say "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# ---- an embedded server on a free port, stopped on exit ----------------------------------
work=$(mktemp -d -t petit-chat-contract.XXXXXX)
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true # SIGTERM: a graceful stop
        for _ in $(seq 1 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/data"
# One fuzzing user sends far faster than a person: without the request-rate limits, most
# cases would stop at 429 (the limits have HTTP tests of their own, tests/api/limits.rs).
PETIT_CHAT__LIMITS__RATE__ENABLED=false RUST_LOG=${RUST_LOG:-warn} "$BIN" serve --listen 127.0.0.1:0 --data-dir "$work/data" \
    >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

addr=
for _ in $(seq 1 300); do
    addr=$(sed -n 's|^Petit chat is up: http://\([^ ]*\).*|\1|p' "$work/server.out" | head -n 1)
    [[ -n $addr ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; die "the server exited at start"; }
    sleep 0.1
done
[[ -n $addr ]] || { cat "$work/server.err" >&2; die "the server did not come up within 30 s"; }
base=http://$addr
say "server up at $base (pid $server_pid)"

# ---- fixtures: two users, a group chat between them, one message in it ----------------
post() { # PATH JSON [TOKEN]
    local auth=()
    [[ $# -ge 3 ]] && auth=(-H "authorization: Bearer $3")
    curl -sS --fail-with-body -X POST "$base$1" -H 'content-type: application/json' "${auth[@]}" -d "$2"
}
login=$(post /api/v1/dev/login '{"username":"fuzzer"}')
# The value at a dotted path of a JSON document on stdin (python3: jq is not on every machine).
json_get() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"; }
token=$(json_get token <<<"$login")
bob_id=$(post /api/v1/dev/login '{"username":"fuzzer-peer"}' | json_get user.id)
chat_id=$(post /api/v1/chats "{\"kind\":\"group\",\"title\":\"Fuzzing\",\"members\":[\"$bob_id\"]}" "$token" | json_get id)
signal_id=$(post "/api/v1/chats/$chat_id/signals" '{"kind":"msg","text":"hello","nonce":"contract-1"}' "$token" | json_get id)
curl -sS --fail-with-body -o /dev/null -X PUT -H "authorization: Bearer $token" \
    "$base/api/v1/chats/$chat_id/signals/$signal_id/reactions/%F0%9F%91%8D"

# Half of the generated values of these parameters are the real ids above (the rest stay
# random, so unknown and malformed ids are still tried). The document types `kind`,
# `availability`, `nonce` and `title` as free strings, so without the word lists below
# nearly every positive case would stop at validation and never reach the store.
cat >"$work/schemathesis.toml" <<EOF
# No .schemathesis/ crash cache in the work tree: a run replays nothing from the last one.
cache = { enabled = false }

[dictionaries]
chat_ids = { values = ["$chat_id"] }
user_ids = { values = ["$bob_id"] }
signal_ids = { values = ["$signal_id"] }
emojis = { values = ["👍", "🍕"] }
chat_kinds = { values = ["group", "direct"] }
signal_kinds = { values = ["msg"] }
availabilities = { values = ["online", "away", "dnd", "invisible"] }
nonces = { values = ["contract-a", "contract-b", "contract-c"] }
titles = { values = ["Fuzzing", "Lunch"] }

[parameters]
"path.chat_id" = { dictionary = "chat_ids", probability = 0.5 }
"path.user_id" = { dictionary = "user_ids", probability = 0.5 }
"path.signal_id" = { dictionary = "signal_ids", probability = 0.5 }
"path.emoji" = { dictionary = "emojis", probability = 0.5 }
"body.members[*]" = { dictionary = "user_ids", probability = 0.5 }
"body.user_ids[*]" = { dictionary = "user_ids", probability = 0.5 }
"body.up_to" = { dictionary = "signal_ids", probability = 0.5 }
"body.reply_to" = { dictionary = "signal_ids", probability = 0.5 }
"body.availability" = { dictionary = "availabilities", probability = 0.7 }
"body.nonce" = { dictionary = "nonces", probability = 0.7 }
"body.title" = { dictionary = "titles", probability = 0.5 }

[[operations]]
include-name = "POST /api/v1/chats"
parameters = { "body.kind" = { dictionary = "chat_kinds", probability = 0.7 } }

[[operations]]
include-name = "POST /api/v1/chats/{chat_id}/signals"
parameters = { "body.kind" = { dictionary = "signal_kinds", probability = 0.7 } }
EOF

# ---- the run -----------------------------------------------------------------------------
# Every check but positive_data_acceptance (a schema-valid request must be accepted): the
# document does not state every rule yet (emoji, usernames, cursors…), so the server's
# 400/422 for those would be reported (bench/README.md, "Hardening").
CHECKS=${PETIT_CHAT_CONTRACT_CHECKS:-all}
EXCLUDED_CHECKS=${PETIT_CHAT_CONTRACT_EXCLUDED_CHECKS:-positive_data_acceptance}
PHASES=${PETIT_CHAT_CONTRACT_PHASES:-examples,coverage,fuzzing,stateful}
# /api/v1/events is an endless Server-Sent Events stream. (The /docs UI, /healthz, /readyz
# and /metrics are not in the document, so schemathesis never calls them.)
cmd=("$VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.json"
    --header "Authorization: Bearer $token"
    --checks "$CHECKS" --exclude-checks "$EXCLUDED_CHECKS" --phases "$PHASES"
    --exclude-path /api/v1/events
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --generation-database none
    --workers 1 --request-timeout 10 --no-color)
read -ra extra <<<"${PETIT_CHAT_CONTRACT_ARGS:-}"
cmd+=("${extra[@]}")
say "schemathesis $SCHEMATHESIS_VERSION, at most $MAX_EXAMPLES examples per operation, seed $SEED"
status=0
"${cmd[@]}" || status=$?
if [[ $status -ne 0 ]]; then
    say "server log (stderr, last 40 lines):"
    tail -n 40 "$work/server.err" >&2
    die "schemathesis found failures (exit $status; report above)"
fi
say "no contract failures"
