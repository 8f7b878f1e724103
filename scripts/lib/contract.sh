#!/usr/bin/env bash
# Contract fuzzing: runs schemathesis (from PyPI, in a venv cached under
# ~/.cache/petit-chat) against the OpenAPI document of a Petit chat server started here on
# a free loopback port, in either shape:
#   embedded (default)  a throw-away data directory; the fuzzing user is `fuzzer`, logged in
#                       with the dev login;
#   cluster             PETIT_CHAT_CONTRACT_CONFIG=deploy/local/cluster.toml (a config of the
#                       local stack): its Cassandra, NATS, S3, OpenSearch and Keycloak, under
#                       a keyspace, stream prefix, key prefix and index of this run's own
#                       (`contract_<8 hex>`, removed at the end by scripts/lib/stack_cleanup.py).
#                       The fuzzing user is the dev realm's test user alice, with a Keycloak
#                       token (a password grant on the test client, fetched again during the
#                       run: scripts/lib/contract_auth.py). Needs the stack up (scripts/stack
#                       up) and its endpoints: eval "$(scripts/stack env)".
# Checks that no request gets a 5xx, that every response's status code, content type and
# body match what /openapi.json documents, and that every request the document allows is
# accepted (positive_data_acceptance: the few refusals no schema can state are allowed on
# their operations only, each with its reason, below). A second user, a group chat and a
# message give the path parameters real ids to hit. Bounded and seeded: the same inputs
# every run. Every phase (examples, coverage, fuzzing, stateful: sequences of calls along
# the document's links) and every check. Exits non-zero, with schemathesis's report, on any
# failure.
#
# Needs target/debug/petit-chat (scripts/test builds it first; or PETIT_CHAT_BIN=…),
# python3 (3.9+) and curl. Knobs: PETIT_CHAT_CONTRACT_CONFIG (the shape, above),
# PETIT_CHAT_CONTRACT_MAX_EXAMPLES (per operation; default 100 embedded, 50 cluster),
# PETIT_CHAT_CONTRACT_SEED, PETIT_CHAT_CONTRACT_CHECKS, PETIT_CHAT_CONTRACT_EXCLUDED_CHECKS,
# PETIT_CHAT_CONTRACT_PHASES, PETIT_CHAT_CONTRACT_ARGS (more `schemathesis run` arguments,
# split on spaces: e.g. "--continue-on-failure --report junit").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${PETIT_CHAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/petit-chat}
SCHEMATHESIS_VERSION=4.32.5
VENV=$CACHE/schemathesis-venv
BIN=${PETIT_CHAT_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/petit-chat}
CONFIG=${PETIT_CHAT_CONTRACT_CONFIG:-}
SEED=${PETIT_CHAT_CONTRACT_SEED:-20261201}
if [[ -n $CONFIG ]]; then
    SHAPE=cluster
    MAX_EXAMPLES=${PETIT_CHAT_CONTRACT_MAX_EXAMPLES:-50}
else
    SHAPE=embedded
    MAX_EXAMPLES=${PETIT_CHAT_CONTRACT_MAX_EXAMPLES:-100}
fi

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

# ---- the cluster shape's stack: its endpoints, and a name of this run's own --------------
tag=
if [[ $SHAPE == cluster ]]; then
    [[ -f $CONFIG ]] || die "$CONFIG does not exist"
    for name in CQL_CONTACT_POINTS NATS_URL S3_ENDPOINT OPENSEARCH_URL OIDC_ISSUER OIDC_CLI_CLIENT_ID TEST_USERS; do
        var=PETIT_CHAT_STACK_$name
        [[ -n ${!var:-} ]] || die "$var is not set: start the stack (scripts/stack up), then eval \"\$(scripts/stack env)\""
    done
    stack_python=$("$ROOT/scripts/lib/pytools.sh" stack)
    # The keyspace, NATS stream prefix, S3 key prefix and OpenSearch index of this run.
    tag=contract_$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
fi

# ---- the server on a free port, stopped on exit (and, cluster shape, its data removed) ----
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
    if [[ -n $tag ]]; then
        "$stack_python" "$ROOT/scripts/lib/stack_cleanup.py" "$tag" ||
            say "could not remove all of $tag from the stack (see above)"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/data"
# One fuzzing user sends far faster than a person: without the request-rate limits, most
# cases would stop at 429 (the limits have HTTP tests of their own, tests/api/limits.rs).
server_env=(PETIT_CHAT__LIMITS__RATE__ENABLED=false RUST_LOG="${RUST_LOG:-warn}")
server_args=(serve --listen 127.0.0.1:0 --data-dir "$work/data")
if [[ $SHAPE == cluster ]]; then
    server_env=(PETIT_CHAT__LIMITS__RATE__ENABLED=false RUST_LOG="${RUST_LOG:-warn,scylla=error}"
        PETIT_CHAT__STORE__KEYSPACE="$tag" PETIT_CHAT__BUS__PREFIX="$tag" PETIT_CHAT__BLOBS__PREFIX="$tag"
        PETIT_CHAT__SEARCH__INDEX="$tag")
    server_args+=(--config "$CONFIG")
fi
env "${server_env[@]}" "$BIN" "${server_args[@]}" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

addr=
for _ in $(seq 1 1200); do
    addr=$(sed -n 's|^Petit chat is up: http://\([^ ]*\).*|\1|p' "$work/server.out" | head -n 1)
    [[ -n $addr ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; die "the server exited at start"; }
    sleep 0.1
done
[[ -n $addr ]] || { cat "$work/server.err" >&2; die "the server did not come up within 120 s"; }
base=http://$addr
for _ in $(seq 1 240); do
    curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
    sleep 0.25
done
curl -fsS -o /dev/null "$base/readyz" || { cat "$work/server.err" >&2; die "the server is not ready"; }
say "$SHAPE shape: server up at $base (pid $server_pid)${tag:+, run $tag}"

# ---- fixtures: two users, two chats, a message with an image, a reaction, a call, cursors --
post() { # PATH JSON [TOKEN]
    local auth=()
    [[ $# -ge 3 ]] && auth=(-H "authorization: Bearer $3")
    curl -sS --fail-with-body -X POST "$base$1" -H 'content-type: application/json' "${auth[@]}" -d "$2"
}
# The value at a dotted path of a JSON document on stdin (python3: jq is not on every machine).
json_get() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"; }
if [[ $SHAPE == embedded ]]; then
    token=$(post /api/v1/dev/login '{"username":"fuzzer"}' | json_get token)
    bob_id=$(post /api/v1/dev/login '{"username":"fuzzer-peer"}' | json_get user.id)
else
    # No dev login here: the realm's test users (`user:password` pairs), as the cluster
    # tests log in (crates/petit-chat/tests/cluster/nodes.rs, keycloak_token).
    export PETIT_CHAT_CONTRACT_TOKEN_URL=$PETIT_CHAT_STACK_OIDC_ISSUER/protocol/openid-connect/token
    export PETIT_CHAT_CONTRACT_CLIENT_ID=$PETIT_CHAT_STACK_OIDC_CLI_CLIENT_ID
    password_of() { tr ' ' '\n' <<<"$PETIT_CHAT_STACK_TEST_USERS" | sed -n "s/^$1://p"; }
    keycloak_token() {
        curl -sS --fail-with-body "$PETIT_CHAT_CONTRACT_TOKEN_URL" -d grant_type=password \
            --data-urlencode "client_id=$PETIT_CHAT_CONTRACT_CLIENT_ID" --data-urlencode "username=$1" \
            --data-urlencode "password=$(password_of "$1")" | json_get access_token
    }
    me() { curl -sS --fail-with-body "$base/api/v1/me" -H "authorization: Bearer $1"; }
    export PETIT_CHAT_CONTRACT_USERNAME=alice
    PETIT_CHAT_CONTRACT_PASSWORD=$(password_of alice)
    export PETIT_CHAT_CONTRACT_PASSWORD
    token=$(keycloak_token alice)
    me "$token" >/dev/null # provisions the fuzzing user
    bob_id=$(me "$(keycloak_token bob)" | json_get id)
fi
chat_id=$(post /api/v1/chats "{\"kind\":\"group\",\"title\":\"Fuzzing\",\"members\":[\"$bob_id\"]}" "$token" | json_get id)
# An image (1×1 PNG), sent in the group's first message; a reaction to it; a call.
base64 -d >"$work/pixel.png" <<<'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='
attachment_id=$(curl -sS --fail-with-body -X POST -H "authorization: Bearer $token" -F "file=@$work/pixel.png" \
    "$base/api/v1/chats/$chat_id/attachments" | json_get id)
signal_id=$(post "/api/v1/chats/$chat_id/signals" \
    "{\"kind\":\"msg\",\"text\":\"hello\",\"nonce\":\"contract-1\",\"attachments\":[\"$attachment_id\"]}" "$token" | json_get id)
curl -sS --fail-with-body -o /dev/null -X PUT -H "authorization: Bearer $token" \
    "$base/api/v1/chats/$chat_id/signals/$signal_id/reactions/%F0%9F%91%8D"
call_id=$(post "/api/v1/chats/$chat_id/calls" '{"media":"audio"}' "$token" | json_get id)
# Cursors the server gave, for the lists that take one: a second chat (direct, with bob)
# makes "my chats" two long.
post /api/v1/chats "{\"kind\":\"direct\",\"members\":[\"$bob_id\"]}" "$token" >/dev/null
next_cursor() { curl -sS --fail-with-body -H "authorization: Bearer $token" "$base$1" | json_get next_cursor; }
chats_cursor=$(next_cursor "/api/v1/chats?limit=1")
timeline_cursor=$(next_cursor "/api/v1/chats/$chat_id/signals?limit=1")

# Half of the generated values of these parameters are the real ids above (the rest stay
# random, so unknown and malformed ids are still tried); nonces and titles come from short
# lists too, so that repeats (a retried send, an existing group) are tried.
#
# positive_data_acceptance: every request the document allows must be accepted. The
# document states each rule JSON Schema can state (patterns, lengths, bounds, formats, one
# of two shapes: crates/api/src/wire/rules.rs). A refusal for a rule no schema can state
# (it depends on what is stored, on the time, or on two query parameters together) is a
# 422 on the operations below, and allowed there only, each for the reasons given:
cat >"$work/schemathesis.toml" <<EOF
# No .schemathesis/ crash cache in the work tree: a run replays nothing from the last one.
cache = { enabled = false }

[dictionaries]
chat_ids = { values = ["$chat_id"] }
user_ids = { values = ["$bob_id"] }
signal_ids = { values = ["$signal_id"] }
attachment_ids = { values = ["$attachment_id"] }
call_ids = { values = ["$call_id"] }
emojis = { values = ["👍", "🍕"] }
signal_kinds = { values = ["msg"] }
nonces = { values = ["contract-a", "contract-b", "contract-c"] }
titles = { values = ["Fuzzing", "Lunch"] }
chats_cursors = { values = ["$chats_cursor"] }
timeline_cursors = { values = ["$timeline_cursor"] }

[parameters]
"path.chat_id" = { dictionary = "chat_ids", probability = 0.5 }
"path.user_id" = { dictionary = "user_ids", probability = 0.5 }
"path.signal_id" = { dictionary = "signal_ids", probability = 0.5 }
"path.attachment_id" = { dictionary = "attachment_ids", probability = 0.5 }
"path.call_id" = { dictionary = "call_ids", probability = 0.5 }
"path.emoji" = { dictionary = "emojis", probability = 0.5 }
"body.members[*]" = { dictionary = "user_ids", probability = 0.5 }
"body.user_ids[*]" = { dictionary = "user_ids", probability = 0.5 }
"body.up_to" = { dictionary = "signal_ids", probability = 0.5 }
"body.reply_to" = { dictionary = "signal_ids", probability = 0.5 }
"body.nonce" = { dictionary = "nonces", probability = 0.7 }
"body.title" = { dictionary = "titles", probability = 0.5 }

[[operations]]
include-name = "POST /api/v1/chats/{chat_id}/signals"
parameters = { "body.kind" = { dictionary = "signal_kinds", probability = 0.7 } }

[[operations]]
include-name = "GET /api/v1/chats"
parameters = { "query.cursor" = { dictionary = "chats_cursors", probability = 0.5 } }

[[operations]]
include-name = "GET /api/v1/chats/{chat_id}/signals"
parameters = { "query.cursor" = { dictionary = "timeline_cursors", probability = 0.5 } }

# Paged lists and searches: a cursor is one the server gave (it is opaque: \`invalid_cursor\`);
# a timeline takes at most one of cursor, before, after and around, and people are found
# by exactly one of username and prefix (OpenAPI cannot relate two parameters).
[[operations]]
include-name = [
    "GET /api/v1/chats",
    "GET /api/v1/chats/{chat_id}/signals",
    "GET /api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}",
    "GET /api/v1/chats/{chat_id}/attachments",
    "GET /api/v1/chats/{chat_id}/search",
    "GET /api/v1/search",
    "GET /api/v1/users",
]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

# What is stored, or the time, decides: a reply names a signal of the chat, files are the
# sender's unsent uploads, mentions name members (\`reply_to_unknown\`,
# \`attachment_unavailable\`, \`mention_not_member\`); a message needs text unless it has
# files; a live location ends in the next 8 hours. Only a message, not a deleted one, is
# edited or takes reactions, and what the server wrote (joined, left, calls) is never
# deleted (\`not_editable\`, \`not_reactable\`). A direct chat keeps its two people and has
# no title (\`direct_chat_is_fixed\`, \`not_a_group\`); a group keeps an owner. A mute ends
# in the next year. A push target's address must be one the server may call (a public
# address, a browser's keys), which the server checks.
[[operations]]
include-name = [
    "POST /api/v1/chats/{chat_id}/signals",
    "PATCH /api/v1/chats/{chat_id}/signals/{signal_id}",
    "DELETE /api/v1/chats/{chat_id}/signals/{signal_id}",
    "PUT /api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}",
    "DELETE /api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}",
    "POST /api/v1/chats/{chat_id}/members",
    "DELETE /api/v1/chats/{chat_id}/members/{user_id}",
    "PATCH /api/v1/chats/{chat_id}/members/{user_id}",
    "PATCH /api/v1/chats/{chat_id}",
    "PUT /api/v1/chats/{chat_id}/notifications",
    "POST /api/v1/me/push-targets",
]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
EOF

# ---- the run -----------------------------------------------------------------------------
CHECKS=${PETIT_CHAT_CONTRACT_CHECKS:-all}
EXCLUDED_CHECKS=${PETIT_CHAT_CONTRACT_EXCLUDED_CHECKS:-}
PHASES=${PETIT_CHAT_CONTRACT_PHASES:-examples,coverage,fuzzing,stateful}
# /api/v1/events is an endless Server-Sent Events stream. (The /docs UI, /healthz, /readyz
# and /metrics are not in the document, so schemathesis never calls them.)
cmd=("$VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.json"
    --checks "$CHECKS" --phases "$PHASES"
    --exclude-path /api/v1/events
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --generation-database none
    --workers 1 --request-timeout 10 --no-color)
[[ -n $EXCLUDED_CHECKS ]] && cmd+=(--exclude-checks "$EXCLUDED_CHECKS")
run_env=()
if [[ $SHAPE == embedded ]]; then
    cmd+=(--header "Authorization: Bearer $token") # a dev-login token does not expire
else
    # Keycloak's tokens expire after 5 minutes: a hook fetches them again during the run.
    run_env=(SCHEMATHESIS_HOOKS=contract_auth PYTHONPATH="$ROOT/scripts/lib${PYTHONPATH:+:$PYTHONPATH}")
fi
read -ra extra <<<"${PETIT_CHAT_CONTRACT_ARGS:-}"
cmd+=("${extra[@]}")
say "schemathesis $SCHEMATHESIS_VERSION, at most $MAX_EXAMPLES examples per operation, seed $SEED"
started=$SECONDS
status=0
env "${run_env[@]}" "${cmd[@]}" || status=$?
ran=$((SECONDS - started))
if [[ $status -ne 0 ]]; then
    say "server log (stderr, last 40 lines):"
    tail -n 40 "$work/server.err" >&2
    die "schemathesis found failures (exit $status; report above)"
fi
# What the server answered, from its own counters. A run whose token stopped working would
# pass on 401s alone (positive_data_acceptance allows them): most answers must be others.
answers=$(curl -sS --fail-with-body "$base/metrics" | python3 -c '
import re, sys
counts = {}
for line in sys.stdin:
    m = re.match(r"petit_chat_http_requests_total\{(.*)\} (\d+)", line)
    if m and "route=\"/metrics\"" not in m.group(1):
        status = re.search(r"status=\"(\d+)\"", m.group(1)).group(1)
        counts[status] = counts.get(status, 0) + int(m.group(2))
total = sum(counts.values())
print(total, counts.get("401", 0), " ".join(f"{s}:{n}" for s, n in sorted(counts.items())))')
read -r total unauthenticated by_status <<<"$answers"
say "the server answered $total requests: $by_status"
((unauthenticated * 2 < total)) || die "$unauthenticated of $total answers were 401: the fuzzing user's token did not work"
say "no contract failures ($SHAPE shape, schemathesis ran $ran s)"
