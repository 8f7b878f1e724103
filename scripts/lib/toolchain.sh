# Sourced by scripts/run and scripts/test: makes sure the Rust toolchain the project
# builds with is present. Rust comes from rustup on the machines this project targets;
# rustfmt and clippy are components of that toolchain.

ensure_rust() {
    if [ -f "$HOME/.cargo/env" ]; then
        # shellcheck disable=SC1091
        source "$HOME/.cargo/env"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: cargo is not installed. Install Rust (https://rustup.rs), then run this again." >&2
        exit 1
    fi
    for component in rustfmt clippy; do
        if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
            rustup component add "$component"
        fi
    done
}

# Makes sure the rustup toolchain $1 (e.g. nightly, for scripts/lib/fuzz.sh) is installed:
# an installed one is used as it is (never updated here); otherwise rustup installs it with
# the minimal profile. Returns 1 when it is not there and rustup cannot install it.
ensure_rust_toolchain() { # TOOLCHAIN
    if rustup run "$1" rustc --version >/dev/null 2>&1; then
        return 0
    fi
    command -v rustup >/dev/null 2>&1 || return 1
    echo "[toolchain] installing the Rust toolchain $1 (rustup, profile minimal)" >&2
    rustup toolchain install "$1" --profile minimal --no-self-update >&2
}
