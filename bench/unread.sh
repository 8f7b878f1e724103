#!/usr/bin/env bash
# What unread counts cost "my chats" (see bench/README.md, "Signals beyond text"): builds
# release, then runs bench/unread.py against an embedded node (SQLite, `full`) and against
# one cluster-shape node (the stack's Cassandra and NATS, dev login), one after the other.
#
#   bash bench/unread.sh            # output also in $BENCH_OUT/unread.txt
#
# Knobs: BENCH_OUT [target/bench], UNREAD_CHATS [50], UNREAD_MESSAGES [100],
# UNREAD_ROUNDS [200]. Needs the stack up for the cluster part (`scripts/stack up`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# The load generators drive thousands of users from 127.0.0.1: the servers benchmarked
# here run without request-rate limits (README, "Abuse limits").
export PETIT_CHAT__LIMITS__RATE__ENABLED=false
OUT=${BENCH_OUT:-$ROOT/target/bench}
mkdir -p "$OUT"
cargo build --release -p petit-chat -p loadgen
SERVER=${CARGO_TARGET_DIR:-$ROOT/target}/release/petit-chat
LOADGEN=${CARGO_TARGET_DIR:-$ROOT/target}/release/loadgen
PRIO=()
ARGS=("${UNREAD_CHATS:-50}" "${UNREAD_MESSAGES:-100}" "${UNREAD_ROUNDS:-200}")
source bench/cluster-nodes.sh

{
    echo "# $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD), $(nproc) cores, $(uname -m)"
    echo "## embedded (SQLite, full durability)"
    data=$(mktemp -d)
    "$SERVER" serve --listen 127.0.0.1:0 --data-dir "$data" >"$OUT/unread-embedded.log" 2>&1 &
    pid=$!
    addr=""
    for _ in $(seq 1 300); do
        addr=$(sed -n 's|^Petit chat is up: http://\([0-9.:]*\).*|\1|p' "$OUT/unread-embedded.log")
        [ -n "$addr" ] && break
        sleep 0.2
    done
    python3 bench/unread.py "http://$addr" "${ARGS[@]}"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"

    echo "## cluster shape, one node (Cassandra, NATS; dev login)"
    cluster_check_stack
    trap cluster_cleanup EXIT
    cluster_start_node 0
    python3 bench/unread.py "http://$node_addr" "${ARGS[@]}"
    cluster_stop_nodes
} 2>&1 | tee "$OUT/unread.txt"
