#!/usr/bin/env bash
# The same workload against Synapse (the peer: Matrix, SQLite), embedded Petit chat and the
# cluster shape (two nodes on the stack's Cassandra and NATS), one after the other in one
# run, with `../shared/peers/bench.py`; prints the figures and the ratios to Synapse.
#
#   bash bench/peers.sh                       # defaults below
#   PEERS_FLAGS="-U 40 -G 10 -S 16 -R 16 -D 30" bash bench/peers.sh
#
# Needs python3 (bench.py is stdlib only; Synapse is installed into a venv by
# peers/synapse/run.sh from PyPI) and, for the cluster shape, the service stack
# (`scripts/stack up`). Results go to $BENCH_OUT (peers-*.json, peers.md, node logs).
# Every run talks to 127.0.0.1 only and is bounded by bench.py's duration and drain.
#
# Knobs (environment):
#   BENCH_OUT      where results and logs go                   [target/bench]
#   PEERS          the peers folder                             [../shared/peers]
#   PEERS_FLAGS    bench.py flags, the same for every server   [-U 40 -G 10 -S 16 -R 16 -D 30]
#   PEERS_SHAPES   which to run, of: synapse embedded cluster  [synapse embedded cluster]
#   PEERS_SERVER   the petit-chat binary to run                [target/release/petit-chat]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/machine.sh
source "$ROOT/bench/machine.sh"
# The load generators drive thousands of users from 127.0.0.1: the servers benchmarked
# here run without request-rate limits (README, "Abuse limits").
export PETIT_CHAT__LIMITS__RATE__ENABLED=false
OUT=${BENCH_OUT:-$ROOT/target/bench}
PEERS=${PEERS:-$ROOT/../shared/peers}
read -r -a FLAGS <<<"${PEERS_FLAGS:--U 40 -G 10 -S 16 -R 16 -D 30}"
SHAPES=${PEERS_SHAPES:-synapse embedded cluster}
mkdir -p "$OUT"
[ -f "$PEERS/bench.py" ] || { echo "no $PEERS/bench.py (set PEERS)" >&2; exit 1; }

cargo build --release -p petit-chat -p loadgen
SERVER=${PEERS_SERVER:-${CARGO_TARGET_DIR:-$ROOT/target}/release/petit-chat}
LOADGEN=${CARGO_TARGET_DIR:-$ROOT/target}/release/loadgen
PRIO=()
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
{
  bench_machine
  echo "bench.py flags: ${FLAGS[*]}"
  echo "uptime: $(uptime)"
} | tee "$OUT/peers-machine.txt"

# shellcheck source=bench/cluster-nodes.sh
source "$ROOT/bench/cluster-nodes.sh"

embedded_pid=""
cluster_started=""
finish() {
  if [ -n "$embedded_pid" ]; then kill "$embedded_pid" 2>/dev/null || true; wait "$embedded_pid" 2>/dev/null || true; fi
  if [ -n "$cluster_started" ]; then cluster_cleanup; fi
}
trap finish EXIT

run_synapse() {
  bash "$PEERS/synapse/run.sh" "${FLAGS[@]}" --json-out "$OUT/peers-synapse.json" 2>&1 | tee "$OUT/peers-synapse.log"
}

run_embedded() {
  local dir log="$OUT/peers-embedded-node.log" addr=""
  dir=$(mktemp -d)
  RUST_LOG=warn "$SERVER" serve --listen 127.0.0.1:0 --data-dir "$dir" >"$log" 2>&1 &
  embedded_pid=$!
  for _ in $(seq 1 300); do
    addr=$(sed -n 's|^Petit chat is up: http://\([0-9.:]*\).*|\1|p' "$log")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "the embedded node did not start; see $log" >&2; exit 1; }
  python3 "$PEERS/bench.py" --protocol petit-chat --base-url "http://$addr" --label petit-chat-embedded \
    "${FLAGS[@]}" --json-out "$OUT/peers-embedded.json" 2>&1 | tee "$OUT/peers-embedded.log"
  kill "$embedded_pid"
  wait "$embedded_pid" 2>/dev/null || true
  embedded_pid=""
  rm -rf "$dir"
}

# Two nodes; bench.py speaks to node 0 (one base URL), both nodes run the workers.
run_cluster() {
  cluster_check_stack
  cluster_started=1
  cluster_start_node 0 "$OUT/peers-cluster-node0.log"
  local addr0=$node_addr
  cluster_start_node 1 "$OUT/peers-cluster-node1.log"
  python3 "$PEERS/bench.py" --protocol petit-chat --base-url "http://$addr0" --label petit-chat-cluster \
    "${FLAGS[@]}" --json-out "$OUT/peers-cluster.json" 2>&1 | tee "$OUT/peers-cluster.log"
  cluster_cleanup
  cluster_started=""
}

for shape in $SHAPES; do
  case $shape in
    synapse) run_synapse ;;
    embedded) run_embedded ;;
    cluster) run_cluster ;;
    *) echo "unknown shape $shape" >&2; exit 1 ;;
  esac
done

# The table: each shape's figures and its ratio to Synapse (accepted msgs/s: higher is
# better; delivery p99: lower is better).
python3 - "$OUT" $SHAPES <<'EOF' | tee "$OUT/peers.md"
import json, os, sys
out, shapes = sys.argv[1], sys.argv[2:]
names = {"synapse": "Synapse (SQLite)", "embedded": "Petit chat, embedded", "cluster": "Petit chat, cluster (2 nodes)"}
res = {s: json.load(open(os.path.join(out, f"peers-{s}.json"))) for s in shapes}
base = res.get("synapse")
print("| server | accepted msgs/s | × Synapse | send p50 / p99 ms | delivery p50 / p95 / p99 ms | p99 vs Synapse | missing | errors |")
print("|---|---|---|---|---|---|---|---|")
for s in shapes:
    r = res[s]
    d, snd = r["delivery_ms"], r["send_ms"]
    ratio = f"{r['accepted_per_s'] / base['accepted_per_s']:.1f}×" if base else "–"
    p99 = f"{d['p99'] / base['delivery_ms']['p99']:.2f}×" if base and base["delivery_ms"]["p99"] else "–"
    print(f"| {names[s]} | {r['accepted_per_s']} | {ratio} | {snd['p50']} / {snd['p99']} | "
          f"{d['p50']} / {d['p95']} / {d['p99']} | {p99} | {r['missing']}/{r['deliveries_expected']} | {r['errors_total']} |")
EOF
