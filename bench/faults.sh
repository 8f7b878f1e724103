#!/usr/bin/env bash
# Faults under steady load, in one command: a 3-node Cassandra ring (replication factor 3,
# LOCAL_QUORUM), two `petit-chat serve` nodes of the cluster shape and NATS JetStream take
# an open-loop load of posts and reactions while, one after the other:
#   1. Cassandra node 2 is killed (SIGKILL), left dead for BENCH_FAULT_HOLD seconds, started again;
#   2. the same with Cassandra node 3;
#   3. API node 1 is killed (SIGKILL), left dead for BENCH_FAULT_HOLD seconds, started again:
#      its clients move to node 0 (posts retried with their nonce, streams resumed with
#      Last-Event-ID), as an app does;
#   4. NATS is killed (SIGKILL) and started again at once.
# The load generator retries a refused post or reaction (same nonce, next node, every
# 250 ms, for up to 120 s) and reopens a stream that ends on the next node. Afterwards it
# reads every group's history: each acknowledged post must be there exactly once, and
# delivered to each member's stream exactly once; each reaction count must equal the
# reactions acknowledged. It exits 1 otherwise, and so does this script.
#
#   bash bench/faults.sh
#
# Needs the service stack with three Cassandra nodes: `scripts/stack up --cassandra-nodes 3`
# (this script runs it: it is idempotent). The stack keeps its three nodes afterwards, and
# every later `scripts/stack up` (the test suite's too) starts all three, which makes the
# CQL tests several times slower on two cores; `scripts/stack purge cassandra`, then
# `scripts/stack up`, goes back to one node (deleting its data). The nodes use
# deploy/local/cluster-3.toml with the overrides of bench/run-cluster.sh (dev login, a
# fresh keyspace and NATS prefix, removed at the end), on fixed ports so that node 1 comes
# back where its clients look.
# The request-rate limits are off (the load comes from one address).
#
# Output in $BENCH_OUT: faults-events.jsonl (each fault and recovery, with its Unix time),
# faults-timeline.jsonl (each second: acknowledged and refused requests, resumed streams),
# faults-loadgen.log (the phase summary, the refusals, the verdict), faults-report.md
# (per fault: load held, refusals, time to recover; made by bench/faults_report.py),
# faults-node*.log, faults-machine.txt.
#
# Knobs (environment):
#   BENCH_OUT          where results and logs go                [target/bench]
#   BENCH_FAULT_RATE   posts per second offered                 [10]
#   BENCH_REACTORS     members reacting to each post            [1]
#   BENCH_STREAMS      users, one stream each                   [100]
#   BENCH_GROUP_SIZE   members per group                        [10]
#   BENCH_FAULT_HOLD   seconds a killed process stays dead      [30]
#   BENCH_SETTLE       seconds of plain load before, between and after faults [20]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/machine.sh
source "$ROOT/bench/machine.sh"
export PETIT_CHAT__LIMITS__RATE__ENABLED=false
OUT=${BENCH_OUT:-$ROOT/target/bench}
RATE=${BENCH_FAULT_RATE:-10}
REACTORS=${BENCH_REACTORS:-1}
STREAMS=${BENCH_STREAMS:-100}
GROUP_SIZE=${BENCH_GROUP_SIZE:-10}
HOLD=${BENCH_FAULT_HOLD:-30}
SETTLE=${BENCH_SETTLE:-20}
PORT0=${BENCH_PORT0:-18480}
PORT1=${BENCH_PORT1:-18481}
export CLUSTER_CONFIG=deploy/local/cluster-3.toml
# a Cassandra node restarting under load on two cores takes minutes (4 at 40 posts/s)
export PETIT_CHAT_STACK_TIMEOUT=${PETIT_CHAT_STACK_TIMEOUT:-900}
mkdir -p "$OUT"
EVENTS=$OUT/faults-events.jsonl
TIMELINE=$OUT/faults-timeline.jsonl
STOP=$OUT/faults-stop
: >"$EVENTS"
rm -f "$STOP" "$TIMELINE"

scripts/stack up --cassandra-nodes 3
# shellcheck source=bench/cluster-nodes.sh
source "$ROOT/bench/cluster-nodes.sh"
cluster_check_stack
PRIO=()

cargo build --release -p petit-chat -p loadgen
SERVER=${CARGO_TARGET_DIR:-target}/release/petit-chat
LOADGEN=${CARGO_TARGET_DIR:-target}/release/loadgen
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

{
  bench_machine
  echo "keyspace: $KEYSPACE, NATS prefix: $PREFIX, rate $RATE/s, reactors $REACTORS, streams $STREAMS, hold ${HOLD}s"
  scripts/stack nodetool status 2>/dev/null | grep -E '^(UN|DN|UJ)' || true
} | tee "$OUT/faults-machine.txt"

loadgen_pid=""
cleanup() {
  if [ -n "$loadgen_pid" ]; then kill "$loadgen_pid" 2>/dev/null || true; fi
  cluster_cleanup
  # what this script killed comes back, whatever happened
  scripts/stack up --cassandra-nodes 3 >/dev/null 2>&1 || echo "scripts/stack up failed: see scripts/stack status" >&2
  echo "the stack keeps a 3-node Cassandra ring: 'scripts/stack purge cassandra && scripts/stack up' goes back to one node" >&2
}
trap cleanup EXIT

event() { # NAME: one line of faults-events.jsonl
  printf '{"unix":%s,"event":"%s"}\n' "$(date +%s)" "$1" | tee -a "$EVENTS"
}
unit_pid() { awk -v u="$1" '$1 == u { print $3 }' <<<"$(scripts/stack status 2>/dev/null || true)"; }

cluster_start_node 0 "$OUT/faults-node0.log" "127.0.0.1:$PORT0"
cluster_start_node 1 "$OUT/faults-node1.log" "127.0.0.1:$PORT1"
node1_index=1

RUST_BACKTRACE=0 "$LOADGEN" run --base "http://127.0.0.1:$PORT0" --base "http://127.0.0.1:$PORT1" \
  --streams "$STREAMS" --group-size "$GROUP_SIZE" --phase "open:$RATE:3600" --stop-file "$STOP" \
  --retry 120 --reactors "$REACTORS" --timeline "$TIMELINE" --verify --drain 120 --max-other-cpu 100 \
  --retries 0 --deadline 3600 --setup-concurrency 4 --label faults >"$OUT/faults-loadgen.log" 2>&1 &
loadgen_pid=$!
# the load starts once the streams are open
until grep -q 'streams open and ready' "$OUT/faults-loadgen.log"; do
  kill -0 "$loadgen_pid" 2>/dev/null || { cat "$OUT/faults-loadgen.log"; exit 1; }
  sleep 1
done
event load_started
sleep "$SETTLE"

for node in 2 3; do
  pid=$(unit_pid "cassandra-node$node")
  [ -n "$pid" ] && [ "$pid" != - ] || { echo "cassandra-node$node is not running" >&2; exit 1; }
  event "cassandra_node${node}_killed" # stamped first: the report's windows start here
  kill -9 "$pid"
  sleep "$HOLD"
  event "cassandra_node${node}_starting"
  scripts/stack up cassandra >/dev/null
  event "cassandra_node${node}_back"
  sleep "$SETTLE"
done

event api_node1_killed
kill -9 "${node_pids[$node1_index]}"
sleep "$HOLD"
event api_node1_starting
cluster_start_node 1 "$OUT/faults-node1-again.log" "127.0.0.1:$PORT1"
event api_node1_back
sleep "$SETTLE"

nats_pid=$(unit_pid nats)
event nats_killed
kill -9 "$nats_pid"
scripts/stack up nats >/dev/null
event nats_back
sleep "$SETTLE"

touch "$STOP"
event load_stopping
status=0
wait "$loadgen_pid" || status=$?
loadgen_pid=""
cat "$OUT/faults-loadgen.log"
python3 bench/faults_report.py "$EVENTS" "$TIMELINE" "$OUT/faults-loadgen.log" | tee "$OUT/faults-report.md"
exit "$status"
