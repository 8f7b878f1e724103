#!/usr/bin/env bash
# The search benchmark in one command (see bench/README.md, "Search"). Builds release,
# then with `searchbench`:
#   1. indexes a generated corpus (1,000,000 messages over 2,000 chats by default) through
#      the TextIndex port, on tantivy (a temp dir) and on the stack's OpenSearch (a fresh
#      index, 3 shards, deleted after): docs/s; then query p50/p99 for 1 and 3 words, in
#      one chat and across 200 chats;
#   2. posts 200 msgs/s for 60 s to an embedded node, then to two cluster-shape nodes
#      (Cassandra, NATS, OpenSearch; dev login), following one message in 20 with a search
#      every 50 ms until it finds it: post -> searchable p50/p99; the nodes' index lag
#      histogram (petit_chat_index_lag_seconds) after each.
#
#   bash bench/search.sh                 # output also in $BENCH_OUT/search.txt
#
# Needs the stack up (`scripts/stack up`). Knobs: BENCH_OUT [target/bench],
# SEARCH_MESSAGES [1000000], LIVE_RATE [200], LIVE_SECONDS [60], SEARCH_PARTS
# [index,embedded,cluster] (which parts run), SEARCH_SERVER (the petit-chat binary to run,
# for a side-by-side of two builds; default target/release/petit-chat, or under $CARGO_TARGET_DIR). Traffic goes only to
# 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# The load generators drive thousands of users from 127.0.0.1: the servers benchmarked
# here run without request-rate limits (README, "Abuse limits").
export PETIT_CHAT__LIMITS__RATE__ENABLED=false
OUT=${BENCH_OUT:-$ROOT/target/bench}
mkdir -p "$OUT"
cargo build --release -p petit-chat -p searchbench -p loadgen
SERVER=${SEARCH_SERVER:-${CARGO_TARGET_DIR:-$ROOT/target}/release/petit-chat}
LOADGEN=${CARGO_TARGET_DIR:-$ROOT/target}/release/loadgen
BENCH=${CARGO_TARGET_DIR:-$ROOT/target}/release/searchbench
PRIO=()
source bench/cluster-nodes.sh
cluster_check_stack
MESSAGES=${SEARCH_MESSAGES:-1000000}
RATE=${LIVE_RATE:-200}
SECONDS_LIVE=${LIVE_SECONDS:-60}
PARTS=${SEARCH_PARTS:-index,embedded,cluster}
part() { [[ ",$PARTS," == *",$1,"* ]]; }

embedded_pid= embedded_data=
stop_embedded() {
    if [[ -n $embedded_pid ]]; then
        kill "$embedded_pid" 2>/dev/null || true
        wait "$embedded_pid" 2>/dev/null || true
        embedded_pid=
    fi
    [[ -n $embedded_data ]] && rm -rf "$embedded_data"
    embedded_data=
}
trap 'stop_embedded; cluster_cleanup' EXIT

{
    echo "# $(date -u +%FT%TZ)  commit $(git rev-parse --short HEAD)  $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    if part index; then
    echo "## indexing and queries through the port"
    "$BENCH" index --adapter tantivy --messages "$MESSAGES"
    "$BENCH" index --adapter opensearch --messages "$MESSAGES" --url "$PETIT_CHAT_STACK_OPENSEARCH_URL"
    fi

    if part embedded; then
    echo "## post -> searchable, embedded (tantivy)"
    embedded_data=$(mktemp -d -t petit-chat-searchbench.XXXXXX)
    RUST_LOG=warn "$SERVER" serve --listen 127.0.0.1:0 --data-dir "$embedded_data" >"$OUT/search-embedded.out" 2>"$OUT/search-embedded.log" &
    embedded_pid=$!
    addr=
    for _ in $(seq 1 100); do
        addr=$(grep -o 'http://127.0.0.1:[0-9]*' "$OUT/search-embedded.out" | head -1 || true)
        [[ -n $addr ]] && break
        sleep 0.1
    done
    [[ -n $addr ]] || { echo "the embedded node did not start" >&2; exit 1; }
    "$BENCH" live --url "$addr" --rate "$RATE" --seconds "$SECONDS_LIVE"
    curl -fsS "$addr/metrics" | grep -E '^petit_chat_(index_lag_seconds_(sum|count|bucket)|group_lag)' || true
    stop_embedded
    fi

    if part cluster; then
    echo "## post -> searchable, cluster shape (2 nodes, Cassandra, NATS, OpenSearch)"
    cluster_start_node 0
    first=$node_addr
    cluster_start_node 1
    second=$node_addr
    "$BENCH" live --url "http://$first" --rate "$RATE" --seconds "$SECONDS_LIVE"
    for node in "$first" "$second"; do
        echo "node $node:"
        curl -fsS "http://$node/metrics" | grep -E '^petit_chat_(index_lag_seconds_(sum|count|bucket)|group_lag)' || true
    done
    # This block runs in a subshell (the pipe to tee): its nodes are stopped here, the
    # trap only removes the keyspace, streams and index.
    cluster_stop_nodes
    fi
} 2>&1 | tee "$OUT/search.txt"
