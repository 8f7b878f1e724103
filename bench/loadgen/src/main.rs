//! Load generator for Petit chat (work in progress).

fn main() {}
