//! Micro-benchmarks of the core: the cost of `write` per call, coalescing.

fn main() {}
