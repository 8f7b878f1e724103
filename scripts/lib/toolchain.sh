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
