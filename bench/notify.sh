#!/usr/bin/env bash
# The notification benchmark on the cluster shape: offline users (no live stream), each
# with a webhook push target that the load generator receives on loopback; a post's
# "delivery" is the notification reaching that gateway. One `petit-chat serve` node on
# the stack's Cassandra and NATS runs every role but `push`; the pushes are sent by 1,
# then 2, `petit-chat worker --roles push` processes. Reports, per phase, post → gateway
# latency (from the moment the post is sent, so the post's own answer time is in it),
# notifications per second (and per worker, from each worker's push_sent_total), lost and
# duplicated notifications.
#
#   bash bench/notify.sh
#
# Needs the service stack (`scripts/stack up`). Same overrides as bench/run-cluster.sh
# (dev login, a fresh keyspace and NATS prefix removed at the end), plus
# notifications.allow_private_targets (the receiver is on loopback).
#
# Knobs (environment):
#   BENCH_OUT          where results and logs go            [target/bench]
#   BENCH_STREAMS      users (offline, one webhook each)    [1000]
#   BENCH_GROUP_SIZE   members per group                    [10]
#   BENCH_PHASES       phases                               ["open:100:20 open:500:20"]
#   BENCH_WORKERS      push worker counts to run, in turn   ["1 2"]
#   BENCH_DRAIN        seconds a phase waits for late notifications [30]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/machine.sh
source "$ROOT/bench/machine.sh"
# The load generators drive thousands of users from 127.0.0.1: the servers benchmarked
# here run without request-rate limits (README, "Abuse limits").
export PETIT_CHAT__LIMITS__RATE__ENABLED=false
OUT=${BENCH_OUT:-$ROOT/target/bench}
STREAMS=${BENCH_STREAMS:-1000}
GROUP_SIZE=${BENCH_GROUP_SIZE:-10}
PHASES=${BENCH_PHASES:-"open:100:20 open:500:20"}
WORKER_COUNTS=${BENCH_WORKERS:-"1 2"}
DRAIN=${BENCH_DRAIN:-30}
mkdir -p "$OUT"
RESULTS="$OUT/notify-results.jsonl"
: >"$RESULTS"
PRIO=()

# shellcheck source=bench/cluster-nodes.sh
source "$ROOT/bench/cluster-nodes.sh"

cargo build --release -p petit-chat -p loadgen
SERVER=${CARGO_TARGET_DIR:-target}/release/petit-chat
LOADGEN=${CARGO_TARGET_DIR:-target}/release/loadgen
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

export PETIT_CHAT__NOTIFICATIONS__ALLOW_PRIVATE_TARGETS=true
{
  bench_machine
} | tee "$OUT/notify-machine.txt"

worker_pids=()
stop_workers() {
  for pid in "${worker_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${worker_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  worker_pids=()
}
cleanup() {
  stop_workers
  cluster_cleanup
}
trap cleanup EXIT

phase_args=()
for p in $PHASES; do phase_args+=(--phase "$p"); done
for workers in $WORKER_COUNTS; do
  # A fresh keyspace and NATS prefix per worker count: no backlog of the previous run.
  cluster_check_stack
  echo "keyspace: $KEYSPACE, NATS prefix: $PREFIX, push workers: $workers" | tee -a "$OUT/notify-machine.txt"
  # Every role but push on the node.
  PETIT_CHAT__WORKERS__ROLES=fanout,presence,thumbnails,collector,notify cluster_start_node 0
  addr0=$node_addr
  echo "== node 0: http://$addr0 (pid ${node_pids[0]})"
  metrics=()
  for w in $(seq 1 "$workers"); do
    port=$((19100 + w))
    PETIT_CHAT__IDENTITY__KIND=dev PETIT_CHAT__IDENTITY__DEV_LOGIN_IN_CLUSTER=true \
      PETIT_CHAT__STORE__KEYSPACE="$KEYSPACE" PETIT_CHAT__BUS__PREFIX="$PREFIX" PETIT_CHAT__SERVER__NODE_ID=$((10 + w)) \
      RUST_LOG=${BENCH_RUST_LOG:-info,tower_http=warn,scylla=error} \
      "$SERVER" worker --roles push --config deploy/local/cluster.toml \
      --metrics-listen "127.0.0.1:$port" >"$OUT/notify-worker$w-of-$workers.log" 2>&1 &
    worker_pids+=($!)
    metrics+=("$port")
  done
  for port in "${metrics[@]}"; do
    for _ in $(seq 1 240); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.25; done
  done
  pid_args=(--server-pid "${node_pids[0]}")
  for pid in "${worker_pids[@]}"; do pid_args+=(--server-pid "$pid"); done
  "$LOADGEN" run --base "http://$addr0" --deliver webhook --streams "$STREAMS" --group-size "$GROUP_SIZE" \
    "${pid_args[@]}" --watch-pid "cassandra=$CASSANDRA_PID" --watch-pid "nats=$NATS_PID" \
    --label "push workers: $workers" --results "$RESULTS" --retries 0 --drain "$DRAIN" \
    --deadline 1800 "${phase_args[@]}" 2>&1 | tee "$OUT/notify-loadgen-$workers.log"
  for port in "${metrics[@]}"; do
    echo "worker on :$port: $(curl -fsS "http://127.0.0.1:$port/metrics" | grep -E '^petit_chat_push_(sent|retried|dead_letters)_total' | tr '\n' ' ')"
  done | tee -a "$OUT/notify-loadgen-$workers.log"
  stop_workers
  cluster_cleanup
done

echo
"$LOADGEN" table "$RESULTS" | tee "$OUT/notify-results.md"
