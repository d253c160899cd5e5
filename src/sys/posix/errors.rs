//! The Unix error table (E-1): how a failed `write`/`writev` is handled.

use std::io;

use crate::core::Outcome;

/// Classifies the error of a write (E-2, E-3, E-4). The raw OS code stays in the error.
pub(crate) fn classify(error: io::Error) -> Outcome {
    let Some(code) = error.raw_os_error() else {
        return Outcome::Fatal(error);
    };
    match code {
        libc::EINTR => Outcome::Interrupted,
        // EWOULDBLOCK equals EAGAIN on every Unix this crate supports.
        libc::EAGAIN => Outcome::WouldBlock,
        libc::ENOMEM | libc::ENOBUFS => Outcome::Transient(error),
        // EPIPE for pipes and FIFOs; ECONNRESET when the descriptor is a socket.
        libc::EPIPE | libc::ECONNRESET => Outcome::PeerClosed(error),
        _ => Outcome::Fatal(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(code: i32) -> &'static str {
        match classify(io::Error::from_raw_os_error(code)) {
            Outcome::Wrote(_) => "wrote",
            Outcome::Interrupted => "interrupted",
            Outcome::WouldBlock => "would-block",
            Outcome::Transient(e) => {
                assert_eq!(e.raw_os_error(), Some(code), "E-4: raw code kept");
                "transient"
            }
            Outcome::PeerClosed(e) => {
                assert_eq!(e.raw_os_error(), Some(code));
                "peer-closed"
            }
            Outcome::Cancelled(_) => "cancelled",
            Outcome::Fatal(e) => {
                assert_eq!(e.raw_os_error(), Some(code), "E-4: raw code kept");
                "fatal"
            }
        }
    }

    #[test]
    fn e1_unix_error_table() {
        let table = [
            (libc::EINTR, "interrupted"),
            (libc::EAGAIN, "would-block"),
            (libc::EWOULDBLOCK, "would-block"),
            (libc::ENOMEM, "transient"),
            (libc::ENOBUFS, "transient"),
            (libc::EPIPE, "peer-closed"),
            (libc::ECONNRESET, "peer-closed"),
            (libc::EBADF, "fatal"),
            (libc::EIO, "fatal"),
            (libc::ENOSPC, "fatal"),
            (libc::EINVAL, "fatal"),
            (libc::EFAULT, "fatal"),
        ];
        for (code, expected) in table {
            assert_eq!(class(code), expected, "errno {code}");
        }
    }

    #[test]
    fn e1_errors_without_os_code_are_fatal() {
        assert!(matches!(
            classify(io::Error::other("synthetic")),
            Outcome::Fatal(_)
        ));
    }
}
