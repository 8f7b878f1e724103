//! Intentionally empty: the smoke tests live in `tests/`; see `docs/stack.md`.
