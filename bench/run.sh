#!/usr/bin/env bash
# The load benchmark in one command: builds release, then for each SQLite durability and
# each stream count starts one embedded node (fresh temp data dir, loopback port), runs
# the load generator's phases against it, stops it, and prints the results table.
#
#   bash bench/run.sh
#
# Knobs (environment):
#   BENCH_OUT          where results and logs go          [target/bench]
#   BENCH_DURABILITY   SQLite durabilities to measure     ["full normal"]
#   BENCH_STREAMS      stream counts                      ["100 1000"]
#   BENCH_PHASES_<N>   phases for N streams, space-separated (see `loadgen run --help`)
#   BENCH_MAX_LOAD     wait until the 1-minute load average is below this  [1.0]
#   BENCH_LOAD_WAIT    ... but at most this many seconds  [180]
#   BENCH_RETRIES      re-runs of a phase during which other processes used more than
#                      BENCH_MAX_OTHER percent of the machine  [1, 15]
#   BENCH_NICE         niceness of the server and the load generator [-10]: on a shared
#                      machine, other work (compiles) then gets the cores only when the
#                      benchmark leaves them idle
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
DURABILITIES=${BENCH_DURABILITY:-"full normal"}
STREAMS=${BENCH_STREAMS:-"100 1000"}
MAX_LOAD=${BENCH_MAX_LOAD:-1.0}
LOAD_WAIT=${BENCH_LOAD_WAIT:-180}
NICE=${BENCH_NICE:--10}
RETRIES=${BENCH_RETRIES:-1}
MAX_OTHER=${BENCH_MAX_OTHER:-15}
DEFAULT_PHASES="open:50:20 open:200:20 open:500:20 closed:8:20 closed:32:20"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

cargo build --release -p petit-chat -p loadgen
SERVER=${CARGO_TARGET_DIR:-target}/release/petit-chat
LOADGEN=${CARGO_TARGET_DIR:-target}/release/loadgen

# 1,000 streams need a few thousand descriptors on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "fd limit: $(ulimit -n)"
# Raising priority needs root; without it, run at the normal priority.
PRIO=(nice -n "$NICE")
[ "$("${PRIO[@]}" nice 2>/dev/null)" = "$NICE" ] || PRIO=()
echo "priority: ${PRIO[*]:-normal}"

bench_machine | tee "$OUT/machine.txt"

server_pid=""
sampler_pid=""
data_dir=""
cleanup() {
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$data_dir" ]; then rm -rf "$data_dir"; fi
  server_pid="" sampler_pid="" data_dir=""
}
trap cleanup EXIT

wait_for_quiet() {
  local waited=0
  while awk -v max="$MAX_LOAD" '{ exit !($1 >= max) }' /proc/loadavg && [ "$waited" -lt "$LOAD_WAIT" ]; do
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg) is above $MAX_LOAD; waiting"
    sleep 15
    waited=$((waited + 15))
  done
  echo "uptime before the run: $(uptime)"
}

for durability in $DURABILITIES; do
  for streams in $STREAMS; do
    phases_var="BENCH_PHASES_$streams"
    phases=${!phases_var:-$DEFAULT_PHASES}
    phase_args=()
    for p in $phases; do phase_args+=(--phase "$p"); done
    tag="$durability-$streams"

    wait_for_quiet
    data_dir=$(mktemp -d)
    PETIT_CHAT__STORE__SQLITE_DURABILITY=$durability \
      "${PRIO[@]}" "$SERVER" serve --listen 127.0.0.1:0 --data-dir "$data_dir" >"$OUT/server-$tag.log" 2>&1 &
    server_pid=$!
    addr=""
    for _ in $(seq 1 300); do
      addr=$(sed -n 's|^Petit chat is up: http://\([0-9.:]*\).*|\1|p' "$OUT/server-$tag.log")
      [ -n "$addr" ] && break
      sleep 0.1
    done
    if [ -z "$addr" ]; then
      echo "the server did not start; see $OUT/server-$tag.log" >&2
      exit 1
    fi
    echo "== durability=$durability streams=$streams server=$addr pid=$server_pid"

    # Per-thread CPU of the server every 5 s while the load runs (bounded count).
    top -H -b -d 5 -n 200 -p "$server_pid" >"$OUT/top-$tag.txt" 2>&1 &
    sampler_pid=$!

    "${PRIO[@]}" "$LOADGEN" run --base "http://$addr" --streams "$streams" --group-size 10 \
      --server-pid "$server_pid" --label "$durability" --results "$RESULTS" \
      --retries "$RETRIES" --max-other-cpu "$MAX_OTHER" \
      --deadline 1800 "${phase_args[@]}" 2>&1 | tee "$OUT/loadgen-$tag.log"
    grep -E 'WARN|ERROR' "$OUT/server-$tag.log" | sort | uniq -c | sort -rn | head -5 || true
    cleanup
  done
done

echo
"$LOADGEN" table "$RESULTS" | tee "$OUT/results.md"
