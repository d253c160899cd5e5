//! `pipewriter`: feed data into a pipe without blocking, and benchmark the library.

fn main() {}
