#!/usr/bin/env bash
# Fuzzes the parsers that take untrusted input (the cargo-fuzz targets of fuzz/: ids,
# cursors, event_ids, multipart, search_queries) for a bounded time each, from the seeds
# in fuzz/seeds/<target>/ copied to a temporary corpus, with a fixed seed.
#
# Needs a nightly toolchain (installed with rustup, profile minimal, when none is) and
# cargo-fuzz, installed once at a pinned version into ~/.cache/petit-chat/cargo-fuzz-<version>/
# (about 1.5 minutes on 2 cores). The instrumented build goes to
# ~/.cache/petit-chat/fuzz-target/ (about 2.5 minutes the first time on 2 cores, about 20 s
# after a change to domain or service, 1 s when nothing changed).
#
# Prints per target the runs executed and libFuzzer's last coverage line. On a failing
# input: the panic, the artifact's path and the input in base64 and hex; it exits 1 once
# every target ran. Reproduce with `<fuzz-target>/x86_64-unknown-linux-gnu/release/<target>
# <artifact>`.
#
# `scripts/lib/fuzz.sh build` only installs and builds (scripts/test runs that in the
# background while the tests run, then fuzzes with the build already made).
#
# Knobs: PETIT_CHAT_FUZZ_SECONDS (per target, default 20), PETIT_CHAT_FUZZ_TARGETS (names,
# default all), PETIT_CHAT_FUZZ_JOBS (targets fuzzed at once, default: the number of
# cores), PETIT_CHAT_FUZZ_SEED (default 1), PETIT_CHAT_FUZZ_TOOLCHAIN (default
# nightly), PETIT_CHAT_FUZZ_SANITIZER (none, the default: the workspace forbids unsafe
# code, and without AddressSanitizer the targets run 4 to 8 times as many inputs and build
# faster; `address` checks the unsafe code of the dependencies too).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${PETIT_CHAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/petit-chat}
CARGO_FUZZ_VERSION=0.13.2
TOOLCHAIN=${PETIT_CHAT_FUZZ_TOOLCHAIN:-nightly}
SECONDS_PER_TARGET=${PETIT_CHAT_FUZZ_SECONDS:-20}
FUZZ_SEED=${PETIT_CHAT_FUZZ_SEED:-1}
SANITIZER=${PETIT_CHAT_FUZZ_SANITIZER:-none}
JOBS=${PETIT_CHAT_FUZZ_JOBS:-$(nproc)}
RSS_LIMIT_MB=2048
# The instrumented build has flags of its own: it never shares a target directory.
export CARGO_TARGET_DIR=$CACHE/fuzz-target

say() { printf '[fuzz] %s\n' "$*" >&2; }
die() { printf 'fuzz: error: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/lib/toolchain.sh
source "$ROOT/scripts/lib/toolchain.sh"
ensure_rust
ensure_rust_toolchain "$TOOLCHAIN" ||
    die "no $TOOLCHAIN toolchain, and rustup could not install it (no access to its dist server?): install one with \`rustup toolchain install nightly --profile minimal\`, or name an installed one in PETIT_CHAT_FUZZ_TOOLCHAIN"

# cargo-fuzz at its pinned version, built once (serialised by a lock).
cargo_fuzz_root=$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION
cargo_fuzz_installed() {
    [[ $("$cargo_fuzz_root/bin/cargo-fuzz" --version 2>/dev/null || true) == "cargo-fuzz $CARGO_FUZZ_VERSION" ]]
}
if ! cargo_fuzz_installed; then
    mkdir -p "$CACHE/logs"
    exec 8>"$cargo_fuzz_root.lock"
    flock -w 900 8 || die "timed out waiting for the lock of $cargo_fuzz_root"
    if ! cargo_fuzz_installed; then
        log=$CACHE/logs/cargo-fuzz-$CARGO_FUZZ_VERSION.log
        say "installing cargo-fuzz $CARGO_FUZZ_VERSION into $cargo_fuzz_root (log: $log)"
        # Its own temporary target directory, not the fuzz build's.
        if ! env -u CARGO_TARGET_DIR nice cargo install --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz \
            --root "$cargo_fuzz_root" >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            die "could not install cargo-fuzz $CARGO_FUZZ_VERSION (log: $log)"
        fi
    fi
    exec 8>&-
fi
export PATH=$cargo_fuzz_root/bin:$PATH

cd "$ROOT/fuzz"
read -r -a targets <<<"${PETIT_CHAT_FUZZ_TARGETS:-$(cargo fuzz list | tr '\n' ' ')}"
[[ ${#targets[@]} -gt 0 ]] || die "no fuzz targets in fuzz/"

# fuzz/Cargo.lock must be up to date (cargo-fuzz has no --locked of its own).
cargo "+$TOOLCHAIN" fetch --locked --quiet
say "building the fuzz targets ($TOOLCHAIN, sanitizer $SANITIZER) into $CARGO_TARGET_DIR"
build_started=$SECONDS
nice cargo "+$TOOLCHAIN" fuzz build --sanitizer "$SANITIZER"
say "built in $((SECONDS - build_started)) s"
[[ ${1:-} == build ]] && exit 0

triple=$(rustc "+$TOOLCHAIN" -vV | sed -n 's/^host: //p')
bin_dir=$CARGO_TARGET_DIR/$triple/release
work=$(mktemp -d -t petit-chat-fuzz.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# Fuzzes one target; its log is $work/<target>.log, libFuzzer's exit status
# $work/<target>.status.
fuzz_one() { # TARGET
    local target=$1 corpus=$work/corpus/$1 artifacts=$CACHE/fuzz-artifacts/$1 dict=() status=0
    mkdir -p "$corpus" "$artifacts"
    if [[ -d $ROOT/fuzz/seeds/$target ]]; then
        cp "$ROOT/fuzz/seeds/$target"/* "$corpus"/
    fi
    [[ -f $ROOT/fuzz/dicts/$target.dict ]] && dict=("-dict=$ROOT/fuzz/dicts/$target.dict")
    "$bin_dir/$target" "$corpus" "${dict[@]}" -max_total_time="$SECONDS_PER_TARGET" -seed="$FUZZ_SEED" \
        -rss_limit_mb="$RSS_LIMIT_MB" -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        >"$work/$target.log" 2>&1 || status=$?
    echo "$status" >"$work/$target.status"
}

# libFuzzer runs one input at a time: one target per core.
say "fuzzing ${#targets[@]} targets ${SECONDS_PER_TARGET} s each, $JOBS at a time"
running=0
for target in "${targets[@]}"; do
    if ((running >= JOBS)); then
        wait -n || true
        running=$((running - 1))
    fi
    fuzz_one "$target" &
    running=$((running + 1))
done
wait

failed=()
for target in "${targets[@]}"; do
    log=$work/$target.log
    status=$(cat "$work/$target.status")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    coverage=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | tr -s ' \t' ' ' || true)
    printf '%-16s %10s runs  %s\n' "$target" "${runs:-?}" "${coverage:-(no coverage line)}"
    if [[ $status != 0 ]]; then
        failed+=("$target")
        say "$target failed (libFuzzer exit $status); its output from the failure on:"
        sed -n '/panicked at\|ERROR: libFuzzer\|==ERROR\|ALARM: working on the last Unit/,$p' "$log" | head -n 60 >&2
        artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
        if [[ -n $artifact && -f $artifact ]]; then
            say "failing input: $artifact ($(wc -c <"$artifact") bytes)"
            say "base64: $(base64 -w 0 "$artifact")"
            od -A d -t x1 -v "$artifact" | head -n 40 >&2
        fi
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    die "failing inputs found by: ${failed[*]}"
fi
say "${#targets[@]} targets fuzzed ${SECONDS_PER_TARGET} s each, no failure"
