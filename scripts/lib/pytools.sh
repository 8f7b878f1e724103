#!/usr/bin/env bash
# The Python tools the tests use besides schemathesis, pinned, in a venv cached under
# ~/.cache/petit-chat (reused while it has the pinned versions): http-ece (an independent
# RFC 8188 / RFC 8291 implementation, the one pywebpush uses) and cryptography, for the
# Web Push service the notification tests run (scripts/lib/webpush_receiver.py). Prints
# the venv's python.
set -euo pipefail

CACHE=${PETIT_CHAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/petit-chat}
VENV=$CACHE/pytools-venv
PINS="http-ece==1.2.1 cryptography==50.0.2"

if [[ $(cat "$VENV/pins" 2>/dev/null || true) != "$PINS" ]]; then
    printf '[pytools] installing %s into %s\n' "$PINS" "$VENV" >&2
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS
    echo "$PINS" >"$VENV/pins"
fi
echo "$VENV/bin/python"
