# Sourced by bench/run-cluster.sh and bench/peers.sh: two `petit-chat serve` nodes of the
# cluster shape on the stack's Cassandra and NATS, with the dev login (a benchmark-only
# escape hatch: both nodes share one data dir, which holds the dev-login key), a fresh
# keyspace, NATS prefix and OpenSearch index per run (removed by cluster_cleanup), node ids
# 0 and 1.
#
# Needs: OUT (where logs go), SERVER and LOADGEN (release binaries), PRIO (an array, maybe
# empty: the nodes' niceness). Sets: CASSANDRA_PID, NATS_PID, KEYSPACE, PREFIX, node_pids,
# node_addr (after cluster_start_node).

cluster_check_stack() {
  eval "$(scripts/stack env)"
  local status
  status=$(scripts/stack status)
  for unit in cassandra-node1 nats; do
    if ! awk -v u="$unit" '$1 == u && $2 == "healthy" { found = 1 } END { exit !found }' <<<"$status"; then
      echo "$unit is not healthy (scripts/stack status):" >&2
      echo "$status" >&2
      exit 1
    fi
  done
  CASSANDRA_PID=$(awk '$1 == "cassandra-node1" { print $3 }' <<<"$status")
  NATS_PID=$(awk '$1 == "nats" { print $3 }' <<<"$status")
  local tag
  tag=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
  KEYSPACE="bench_$tag"
  PREFIX="bench_$tag"
  node_pids=()
  cluster_data_dir=$(mktemp -d)
}

cluster_stop_nodes() {
  for pid in "${node_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${node_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  node_pids=()
}

cluster_cleanup() {
  cluster_stop_nodes
  "$LOADGEN" cleanup --keyspace "$KEYSPACE" --nats-prefix "$PREFIX" || echo "cleanup failed: drop keyspace $KEYSPACE by hand" >&2
  curl -fsS -o /dev/null -X DELETE "$PETIT_CHAT_STACK_OPENSEARCH_URL/$PREFIX-*" || echo "cleanup failed: delete the indices $PREFIX-* by hand" >&2
  curl -fsS -o /dev/null -X DELETE "$PETIT_CHAT_STACK_OPENSEARCH_URL/_index_template/$PREFIX" || true
  rm -rf "$cluster_data_dir"
}

# Starts node $1 in the background (log: $OUT/cluster-node$1.log, or $2) on address $3
# (default: a free port on 127.0.0.1) with config $CLUSTER_CONFIG (default:
# deploy/local/cluster.toml); sets node_addr once it answers /readyz.
cluster_start_node() {
  local n=$1 log=${2:-$OUT/cluster-node$1.log} listen=${3:-127.0.0.1:0}
  PETIT_CHAT__IDENTITY__KIND=dev PETIT_CHAT__IDENTITY__DEV_LOGIN_IN_CLUSTER=true \
    PETIT_CHAT__STORE__KEYSPACE="$KEYSPACE" PETIT_CHAT__BUS__PREFIX="$PREFIX" PETIT_CHAT__SEARCH__INDEX="$PREFIX" \
    PETIT_CHAT__BUS__USER_EVENTS_MAX_AGE_SECS=3600 PETIT_CHAT__SERVER__NODE_ID="$n" \
    RUST_LOG=${BENCH_RUST_LOG:-info,tower_http=warn,scylla=error} \
    "${PRIO[@]}" "$SERVER" serve --config "${CLUSTER_CONFIG:-deploy/local/cluster.toml}" --listen "$listen" --data-dir "$cluster_data_dir" \
    >"$log" 2>&1 &
  node_pids+=($!)
  node_addr=""
  for _ in $(seq 1 600); do
    node_addr=$(sed -n 's|^Petit chat is up: http://\([0-9.:]*\).*|\1|p' "$log")
    [ -n "$node_addr" ] && break
    kill -0 "${node_pids[-1]}" 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$node_addr" ]; then
    echo "node $n did not start; see $log" >&2
    exit 1
  fi
  for _ in $(seq 1 240); do
    curl -fsS -o /dev/null "http://$node_addr/readyz" && return 0
    sleep 0.25
  done
  echo "node $n never became ready; see $log" >&2
  exit 1
}
