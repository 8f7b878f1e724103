#!/usr/bin/env bash
# The load benchmark across two nodes of the cluster shape, in one command: builds
# release, starts two `petit-chat serve` processes on the stack's Cassandra (CQL store)
# and NATS JetStream (bus), runs the load generator's phases with the streams and the
# posts spread over both nodes, stops the nodes, removes the run's keyspace and NATS
# streams, and prints the results table.
#
#   bash bench/run-cluster.sh
#
# Needs the service stack (`scripts/stack up`; Cassandra and NATS healthy). The nodes use
# `deploy/local/cluster.toml` with these overrides:
#   - the dev login instead of Keycloak (PETIT_CHAT__IDENTITY__KIND=dev and
#     PETIT_CHAT__IDENTITY__DEV_LOGIN_IN_CLUSTER=true, a benchmark-only escape hatch);
#     both nodes get the same --data-dir, which holds the dev-login key, so a token
#     issued by node 0 verifies on node 1 (the CQL store keeps nothing there);
#   - a fresh keyspace and NATS prefix per run (bench_<random>), removed at the end by
#     `loadgen cleanup` (also when the run fails: leftover keyspaces exhaust Cassandra's
#     heap); per-user events are kept one hour only, in case the cleanup cannot run;
#   - node ids 0 and 1, and 127.0.0.1:0 listen addresses;
#   - RUST_LOG=info,tower_http=warn,scylla=error (the default filter, plus: the scylla
#     driver warns on every query plan that SimpleStrategy and a preferred datacenter do not
#     mix, thousands of lines a minute, which would cost the nodes CPU).
# Users log in and groups are made on node 0; streams alternate between the nodes (so half
# of every group streams from the node the post did not go to) and posts alternate too.
# Each delivery is filed as same-node or cross-node.
#
# Results, node logs, the load generator's log and `top` samples (both nodes, Cassandra,
# NATS) go to $BENCH_OUT: cluster-results.jsonl, cluster-results.md, cluster-node{0,1}.log,
# cluster-loadgen.log, cluster-top.txt, cluster-machine.txt. 6 to 12 minutes with the
# defaults (setup, 5 phases of 20 s with their drains and retries, the quiet-machine wait
# aside).
#
# Knobs (environment):
#   BENCH_OUT          where results and logs go                      [target/bench]
#   BENCH_STREAMS      users, one stream each                         [200]
#   BENCH_GROUP_SIZE   members per group                              [10]
#   BENCH_PHASES       phases, space-separated (see `loadgen run --help`)
#                      ["open:50:20 open:100:20 open:200:20 open:500:20 closed:16:20"]
#   BENCH_DRAIN        seconds a phase waits for late deliveries       [60]
#                      (longer than run.sh's 20: past its capacity the cluster delivers
#                      seconds late, and the next phase should not start on a backlog)
#   BENCH_MAX_LOAD     wait until the 1-minute load average is below this  [1.5]
#   BENCH_LOAD_WAIT    ... but at most this many seconds               [180]
#   BENCH_RETRIES      re-runs of a phase during which other processes used more than
#                      BENCH_MAX_OTHER percent of the machine           [1, 15]
#                      (Cassandra and NATS are part of the system measured: not "other")
#   BENCH_NICE         niceness of the nodes and the load generator    [-10]
#   BENCH_RUST_LOG     the nodes' log filter          [info,tower_http=warn,scylla=error]
#   BENCH_SERVER       the nodes' binary, for an A/B of two builds  [target/release/petit-chat]
#   BENCH_LAG          1: each consumer group's lag every second to cluster-lag.jsonl
#                      (bench/group_lag.py; NATS's /jsz, a little of its CPU)   [0]
# The nodes inherit the environment, so any PETIT_CHAT__* setting reaches them: e.g.
# PETIT_CHAT__WORKERS__ROLES=fanout,presence for API nodes that run the fan-out and no
# other worker (issue 10's shape; every group is still declared).
# Everything is bounded: every phase has a duration and a post count, the load generator
# has a deadline, and traffic goes only to 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/machine.sh
source "$ROOT/bench/machine.sh"
# The load generators drive thousands of users from 127.0.0.1: the servers benchmarked
# here run without request-rate limits (README, "Abuse limits").
export PETIT_CHAT__LIMITS__RATE__ENABLED=false
OUT=${BENCH_OUT:-$ROOT/target/bench}
STREAMS=${BENCH_STREAMS:-200}
GROUP_SIZE=${BENCH_GROUP_SIZE:-10}
PHASES=${BENCH_PHASES:-"open:50:20 open:100:20 open:200:20 open:500:20 closed:16:20"}
DRAIN=${BENCH_DRAIN:-60}
MAX_LOAD=${BENCH_MAX_LOAD:-1.5}
LOAD_WAIT=${BENCH_LOAD_WAIT:-180}
NICE=${BENCH_NICE:--10}
RETRIES=${BENCH_RETRIES:-1}
LAG=${BENCH_LAG:-0}
MAX_OTHER=${BENCH_MAX_OTHER:-15}
mkdir -p "$OUT"
RESULTS="$OUT/cluster-results.jsonl"
: >"$RESULTS"

# shellcheck source=bench/cluster-nodes.sh
source "$ROOT/bench/cluster-nodes.sh"
cluster_check_stack

cargo build --release -p petit-chat -p loadgen
SERVER=${BENCH_SERVER:-${CARGO_TARGET_DIR:-target}/release/petit-chat}
LOADGEN=${CARGO_TARGET_DIR:-target}/release/loadgen

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "fd limit: $(ulimit -n)"
PRIO=(nice -n "$NICE")
[ "$("${PRIO[@]}" nice 2>/dev/null)" = "$NICE" ] || PRIO=()
echo "priority: ${PRIO[*]:-normal}"

{
  bench_machine
  echo "keyspace: $KEYSPACE, NATS prefix: $PREFIX"
  echo "cassandra pid $CASSANDRA_PID, nats pid $NATS_PID"
} | tee "$OUT/cluster-machine.txt"

sampler_pid="" lag_pid=""
stop_nodes() {
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [ -n "$lag_pid" ]; then kill "$lag_pid" 2>/dev/null || true; fi
  sampler_pid="" lag_pid=""
  cluster_stop_nodes
}
cleanup() {
  stop_nodes
  cluster_cleanup
}
trap cleanup EXIT

wait_for_quiet() {
  local waited=0
  while awk -v max="$MAX_LOAD" '{ exit !($1 >= max) }' /proc/loadavg && [ "$waited" -lt "$LOAD_WAIT" ]; do
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg) is above $MAX_LOAD; waiting"
    sleep 15
    waited=$((waited + 15))
  done
  echo "uptime before the run: $(uptime)" | tee -a "$OUT/cluster-machine.txt"
}

wait_for_quiet
# One after the other: node 0 creates the keyspace, its tables and the dev-login key.
cluster_start_node 0
addr0=$node_addr
cluster_start_node 1
addr1=$node_addr
echo "== nodes: 0 http://$addr0 (pid ${node_pids[0]}), 1 http://$addr1 (pid ${node_pids[1]}); streams=$STREAMS"

# CPU of both nodes, Cassandra and NATS every 5 s while the load runs (bounded count).
top -b -d 5 -n 200 -p "${node_pids[0]},${node_pids[1]},$CASSANDRA_PID,$NATS_PID" >"$OUT/cluster-top.txt" 2>&1 &
sampler_pid=$!
if [ "$LAG" = 1 ]; then
  python3 "$ROOT/bench/group_lag.py" "$PETIT_CHAT_STACK_NATS_MONITOR_URL" "$PREFIX" "$OUT/cluster-lag.jsonl" &
  lag_pid=$!
fi

phase_args=()
for p in $PHASES; do phase_args+=(--phase "$p"); done
"${PRIO[@]}" "$LOADGEN" run --base "http://$addr0" --base "http://$addr1" \
  --streams "$STREAMS" --group-size "$GROUP_SIZE" \
  --server-pid "${node_pids[0]}" --server-pid "${node_pids[1]}" \
  --watch-pid "cassandra=$CASSANDRA_PID" --watch-pid "nats=$NATS_PID" \
  --label cluster --results "$RESULTS" --retries "$RETRIES" --max-other-cpu "$MAX_OTHER" --drain "$DRAIN" \
  --deadline 1800 "${phase_args[@]}" 2>&1 | tee "$OUT/cluster-loadgen.log"
for n in 0 1; do
  echo "node $n warnings and errors:"
  grep -E 'WARN|ERROR' "$OUT/cluster-node$n.log" | sed -E 's/^[^ ]+ +//' | sort | uniq -c | sort -rn | head -5 || true
done
stop_nodes

echo
"$LOADGEN" table "$RESULTS" | tee "$OUT/cluster-results.md"
