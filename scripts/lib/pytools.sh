#!/usr/bin/env bash
# Pinned Python tools in venvs cached under ~/.cache/petit-chat (made once,
# reused while they hold the pinned versions, serialised by a lock). Prints the venv's
# python. The set:
#   tests (default)  http-ece (an independent RFC 8188 / RFC 8291 implementation, the one
#                    pywebpush uses) and cryptography, for the Web Push service the
#                    notification tests run (scripts/lib/webpush_receiver.py);
#   stack            cassandra-driver (the driver cqlsh runs on) and boto3, the clients of
#                    scripts/stack's health checks (scripts/lib/cql_check.py, s3_check.py).
set -euo pipefail

CACHE=${PETIT_CHAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/petit-chat}
case ${1:-tests} in
    tests) VENV=$CACHE/pytools-venv PINS="http-ece==1.2.1 cryptography==50.0.2" ;;
    stack) VENV=$CACHE/stack-tools-venv PINS="cassandra-driver==3.30.1 boto3==1.44.8" ;;
    *) echo "usage: $0 [tests|stack]" >&2; exit 2 ;;
esac
LOG=$CACHE/logs/$(basename "$VENV").log

installed() { [[ $(cat "$VENV/pins" 2>/dev/null || true) == "$PINS" ]]; }
fail() { tail -n 20 "$LOG" >&2; echo "[pytools] $1 (log: $LOG)" >&2; exit 1; }

if ! installed; then
    mkdir -p "$CACHE/logs"
    exec 8>"$VENV.lock"
    flock -w 600 8 || fail "timed out waiting for the lock of $VENV"
    if ! installed; then
        printf '[pytools] installing %s into %s\n' "$PINS" "$VENV" >&2
        rm -rf "$VENV"
        if ! python3 -m venv "$VENV" >"$LOG" 2>&1; then
            # Debian ships venv apart; a fresh machine may not have it.
            [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || fail "python3 -m venv failed: install python3-venv"
            rm -rf "$VENV"
            { apt-get install -y --no-install-recommends python3-venv ||
                { apt-get update && apt-get install -y --no-install-recommends python3-venv; }; } >>"$LOG" 2>&1 ||
                fail "could not install python3-venv"
            python3 -m venv "$VENV" >>"$LOG" 2>&1 || fail "python3 -m venv failed"
        fi
        # shellcheck disable=SC2086
        "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS >>"$LOG" 2>&1 ||
            fail "could not install $PINS"
        echo "$PINS" >"$VENV/pins"
    fi
fi
echo "$VENV/bin/python"
