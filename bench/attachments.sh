#!/usr/bin/env bash
# The attachment benchmark in one command (see bench/README.md, "Attachments"): builds
# release, then runs `blobbench` against two fresh embedded nodes in turn (SQLite in a
# temp dir, local bus, dev login), one keeping files on the stack's S3 (SeaweedFS, which
# must be up: `scripts/stack up s3`), one in a local directory:
#   - uploads through the API against direct PUTs to the same bucket, side by side;
#   - time to the first byte of a download;
#   - the node's memory while 10 uploads of 100 MB stream at once (the upload limit is
#     raised to 200 MB by configuration for that: PETIT_CHAT__LIMITS__MAX_UPLOAD_BYTES).
#
#   bash bench/attachments.sh            # output also in $BENCH_OUT/attachments.txt
#
# Knobs: BENCH_OUT [target/bench], BLOBBENCH_ARGS (more blobbench flags, e.g.
# "--small-count 100 --large-count 8"). Traffic goes only to 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# The load generators drive thousands of users from 127.0.0.1: the servers benchmarked
# here run without request-rate limits (README, "Abuse limits").
export PETIT_CHAT__LIMITS__RATE__ENABLED=false
OUT=${BENCH_OUT:-$ROOT/target/bench}
mkdir -p "$OUT"
eval "$(scripts/stack env)"
cargo build --release -p petit-chat -p blobbench
read -r -a EXTRA <<<"${BLOBBENCH_ARGS:-}"

server_pid= data=
stop() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
    [[ -n $data ]] && rm -rf "$data"
    data=
}
trap stop EXIT

# Starts a node with blob storage $1 (s3 | local); sets $addr and $server_pid.
start() {
    local log
    data=$(mktemp -d -t petit-chat-blobbench.XXXXXX)
    log=$OUT/attachments-server-$1.log
    PETIT_CHAT__BLOBS__KIND=$1 \
    PETIT_CHAT__BLOBS__ENDPOINT=$PETIT_CHAT_STACK_S3_ENDPOINT \
    PETIT_CHAT__BLOBS__BUCKET=$PETIT_CHAT_STACK_S3_BUCKET \
    PETIT_CHAT__BLOBS__REGION=$PETIT_CHAT_STACK_S3_REGION \
    PETIT_CHAT__BLOBS__ACCESS_KEY_ID=$PETIT_CHAT_STACK_S3_ACCESS_KEY_ID \
    PETIT_CHAT__BLOBS__SECRET_ACCESS_KEY=$PETIT_CHAT_STACK_S3_SECRET_ACCESS_KEY \
    PETIT_CHAT__BLOBS__PREFIX=blobbench-$(date +%s) \
    PETIT_CHAT__LIMITS__MAX_UPLOAD_BYTES=200000000 \
    RUST_LOG=warn "${CARGO_TARGET_DIR:-target}/release/petit-chat" serve --listen 127.0.0.1:0 --data-dir "$data" >"$log.out" 2>"$log" &
    server_pid=$!
    for _ in $(seq 1 100); do
        addr=$(grep -o 'http://127.0.0.1:[0-9]*' "$log.out" | head -1 || true)
        [[ -n $addr ]] && return 0
        sleep 0.1
    done
    echo "the node did not start; see $log" >&2
    exit 1
}

{
    echo "# $(date -u +%FT%TZ)  commit $(git rev-parse --short HEAD)  $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "## blobs on S3 (SeaweedFS $PETIT_CHAT_STACK_S3_ENDPOINT)"
    start s3
    "${CARGO_TARGET_DIR:-target}/release/blobbench" --api "$addr" --s3-endpoint "$PETIT_CHAT_STACK_S3_ENDPOINT" \
        --s3-bucket "$PETIT_CHAT_STACK_S3_BUCKET" --server-pid "$server_pid" "${EXTRA[@]}"
    stop
    echo "## blobs in a local directory"
    start local
    "${CARGO_TARGET_DIR:-target}/release/blobbench" --api "$addr" --server-pid "$server_pid" "${EXTRA[@]}"
    stop
} 2>&1 | tee "$OUT/attachments.txt"
