//! Every line the CLI prints goes through here.
//!
//! `println!` and `eprintln!` panic when the write fails, for instance when stderr is a pipe
//! whose reader has gone away (`EPIPE`): a message about an early reader would itself turn
//! into a panic and exit code 101. These functions ignore write errors instead: a message
//! that cannot be shown is lost, and the exit code still tells what happened.

use std::fmt;
use std::io::{self, Write};

/// Writes one line to stderr, ignoring any error.
pub(crate) fn stderr_line(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// Writes one line to stdout, ignoring any error.
pub(crate) fn stdout_line(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{args}");
    let _ = out.flush();
}

/// `eprintln!` that never panics: see [`stderr_line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::stderr_line(format_args!($($arg)*))
    };
}

/// `println!` that never panics: see [`stdout_line`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout_line(format_args!($($arg)*))
    };
}

pub(crate) use {out, say};
