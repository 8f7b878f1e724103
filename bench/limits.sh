#!/usr/bin/env bash
# What the request-rate limits cost: A B A B on fresh embedded nodes, with the limits off
# (A) and on with every check running (B: the per-address budgets raised out of reach,
# since every simulated user comes from 127.0.0.1; the per-user budgets at their
# defaults). Results in target/bench/limits/ (results.jsonl, loadgen and server logs);
# the table at the end. See bench/README.md, "Hardening".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
cargo build --release --locked -p petit-chat -p loadgen
OUT=target/bench/limits
mkdir -p "$OUT"
rm -f "$OUT/results.jsonl"
ulimit -n 20000
raised=()
for budget in LOGIN SEND UPLOAD SEARCH OTHER; do
  raised+=("PETIT_CHAT__LIMITS__RATE__PER_ADDRESS__${budget}__PER_MINUTE=1000000000"
           "PETIT_CHAT__LIMITS__RATE__PER_ADDRESS__${budget}__BURST=1000000")
done
for round in 1 2; do for limits in off on; do
  data=$(mktemp -d)
  if [[ $limits == off ]]; then settings=(PETIT_CHAT__LIMITS__RATE__ENABLED=false); else settings=("${raised[@]}"); fi
  env "${settings[@]}" nice -n -10 "${CARGO_TARGET_DIR:-target}/release/petit-chat" serve --listen 127.0.0.1:18090 --data-dir "$data" \
    >"$OUT/server-$limits-$round.log" 2>&1 &
  server=$!
  sleep 2
  nice -n -10 "${CARGO_TARGET_DIR:-target}/release/loadgen" run --base http://127.0.0.1:18090 --streams 200 --group-size 10 --retries 0 \
    --server-pid "$server" --label "limits-$limits-$round" --results "$OUT/results.jsonl" \
    --phase open:1000:15 --phase closed:64:20 >"$OUT/loadgen-$limits-$round.log" 2>&1
  kill "$server"; wait "$server" || true; rm -rf "$data"
done; done
"${CARGO_TARGET_DIR:-target}/release/loadgen" table "$OUT/results.jsonl"
