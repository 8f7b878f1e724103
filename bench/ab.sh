#!/usr/bin/env bash
# Two builds of the embedded server side by side, on the same workload, in one run: A B A B
# (a ratio holds on a noisy machine, an absolute time does not). Each round starts a fresh
# node (SQLite `full`, a new temp data dir) and runs the load generator against it.
#
#   bash bench/ab.sh BINARY_A BINARY_B
#
# Build the two binaries first, e.g. from two commits:
#   git worktree add /tmp/a COMMIT_A && (cd /tmp/a && CARGO_TARGET_DIR=$PWD/target cargo build --release -p petit-chat)
# Knobs (environment):
#   AB_ROUNDS   rounds of A then B                          [2]
#   AB_STREAMS  open streams (groups of 10)                 [1000]
#   AB_PHASES   load generator phases                       ["open:1000:20 closed:32:20 closed:64:20"]
#   AB_OUT      where results and logs go                   [target/bench/ab]
#   AB_NICE     niceness of both processes                  [-10]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/machine.sh
source "$ROOT/bench/machine.sh"
A=${1:?usage: bench/ab.sh BINARY_A BINARY_B}
B=${2:?usage: bench/ab.sh BINARY_A BINARY_B}
ROUNDS=${AB_ROUNDS:-2}
STREAMS=${AB_STREAMS:-1000}
PHASES=${AB_PHASES:-"open:1000:20 closed:32:20 closed:64:20"}
OUT=${AB_OUT:-$ROOT/target/bench/ab}
NICE=${AB_NICE:--10}
export PETIT_CHAT__LIMITS__RATE__ENABLED=false
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

# Built with the server, as bench/run.sh does (built alone it would unify other features).
LOADGEN=${CARGO_TARGET_DIR:-target}/release/loadgen
[ -x "$LOADGEN" ] || cargo build --release -p petit-chat -p loadgen
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
PRIO=(nice -n "$NICE")
[ "$("${PRIO[@]}" nice 2>/dev/null)" = "$NICE" ] || PRIO=()
bench_machine | tee "$OUT/machine.txt"
echo "A: $A ($(sha256sum "$A" | cut -c1-12))" | tee -a "$OUT/machine.txt"
echo "B: $B ($(sha256sum "$B" | cut -c1-12))" | tee -a "$OUT/machine.txt"

phase_args=()
for p in $PHASES; do phase_args+=(--phase "$p"); done

server_pid=""
data_dir=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  [ -z "$data_dir" ] || rm -rf "$data_dir"
  data_dir=""
}
trap stop_server EXIT

for round in $(seq 1 "$ROUNDS"); do
  for label in A B; do
    binary=$A
    [ "$label" = A ] || binary=$B
    data_dir=$(mktemp -d)
    log="$OUT/server-$label-$round.log"
    PETIT_CHAT__STORE__SQLITE_DURABILITY=full "${PRIO[@]}" "$binary" serve --listen 127.0.0.1:0 \
      --data-dir "$data_dir" >"$log" 2>&1 &
    server_pid=$!
    base=""
    for _ in $(seq 1 300); do
      base=$(grep -o 'Petit chat is up: http://[0-9.:]*' "$log" | head -1 | sed 's/Petit chat is up: //') || true
      [ -n "$base" ] && break
      sleep 0.1
    done
    [ -n "$base" ] || { echo "server $label did not start" >&2; cat "$log" >&2; exit 1; }
    echo "== round $round, $label: $base"
    "${PRIO[@]}" "$LOADGEN" run --base "$base" --streams "$STREAMS" --group-size 10 --retries 0 \
      --server-pid "$server_pid" --label "$label-$round" --results "$RESULTS" "${phase_args[@]}" \
      >"$OUT/loadgen-$label-$round.log" 2>&1
    stop_server
  done
done
"$LOADGEN" table "$RESULTS" | tee "$OUT/results.md"
