//! The Windows error table (E-1): how a failed `WriteFile` is handled.

use std::io;

use windows_sys::Win32::Foundation::{
    ERROR_BROKEN_PIPE, ERROR_INVALID_USER_BUFFER, ERROR_NONPAGED_SYSTEM_RESOURCES,
    ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_ENOUGH_QUOTA, ERROR_NO_DATA, ERROR_NO_SYSTEM_RESOURCES,
    ERROR_OPERATION_ABORTED, ERROR_PAGED_SYSTEM_RESOURCES, ERROR_PIPE_NOT_CONNECTED,
    ERROR_WORKING_SET_QUOTA,
};

use crate::core::Outcome;

/// Classifies the error of a write (E-2, E-3, E-4). The raw OS code stays in the error.
///
/// `ERROR_IO_PENDING` (997) is not an error and never reaches this table: the backend treats
/// it as "the operation was queued". `ERROR_OPERATION_ABORTED` (995) maps to
/// [`Outcome::Cancelled`]; it only means "our stop cancelled it" when the backend did cancel,
/// which the backend checks before trusting it (a write cancelled by anyone else — e.g. the
/// OS, when the thread that issued it exits — is retried instead).
pub(crate) fn classify(error: io::Error) -> Outcome {
    let Some(code) = error.raw_os_error() else {
        return Outcome::Fatal(error);
    };
    // Raw Win32 error codes are small positive numbers; anything else is unknown, so fatal.
    let Ok(code) = u32::try_from(code) else {
        return Outcome::Fatal(error);
    };
    match code {
        // The read end was closed (232 on a pipe whose reader is gone, 109 when the pipe
        // was torn down, 233 when a named pipe server has no client any more).
        ERROR_NO_DATA | ERROR_BROKEN_PIPE | ERROR_PIPE_NOT_CONNECTED => Outcome::PeerClosed(error),
        ERROR_OPERATION_ABORTED => Outcome::Cancelled(0),
        // Resource shortages (E-3). 1784 is what pipes return when the kernel cannot lock the
        // caller's buffer (too many outstanding I/Os pinning memory), which clears up.
        ERROR_NOT_ENOUGH_MEMORY
        | ERROR_NO_SYSTEM_RESOURCES
        | ERROR_NONPAGED_SYSTEM_RESOURCES
        | ERROR_PAGED_SYSTEM_RESOURCES
        | ERROR_WORKING_SET_QUOTA
        | ERROR_NOT_ENOUGH_QUOTA
        | ERROR_INVALID_USER_BUFFER => Outcome::Transient(error),
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
                assert_eq!(e.raw_os_error(), Some(code), "raw code kept");
                "peer-closed"
            }
            Outcome::Cancelled(n) => {
                assert_eq!(n, 0, "a classified cancellation wrote nothing");
                "cancelled"
            }
            Outcome::Fatal(e) => {
                assert_eq!(e.raw_os_error(), Some(code), "E-4: raw code kept");
                "fatal"
            }
        }
    }

    /// E-1 … E-4: the whole table, including codes Wine never produces for a pipe write
    /// (the resource shortages, 1784, 233 on an anonymous pipe).
    #[test]
    fn e1_windows_error_table() {
        let table = [
            // E-2: peer closed, quietly.
            (232, "peer-closed"), // ERROR_NO_DATA
            (109, "peer-closed"), // ERROR_BROKEN_PIPE
            (233, "peer-closed"), // ERROR_PIPE_NOT_CONNECTED
            // E-3: cancellation after our stop.
            (995, "cancelled"), // ERROR_OPERATION_ABORTED
            // E-3: transient, retried with backoff.
            (8, "transient"),    // ERROR_NOT_ENOUGH_MEMORY
            (1450, "transient"), // ERROR_NO_SYSTEM_RESOURCES
            (1451, "transient"), // ERROR_NONPAGED_SYSTEM_RESOURCES
            (1452, "transient"), // ERROR_PAGED_SYSTEM_RESOURCES
            (1453, "transient"), // ERROR_WORKING_SET_QUOTA
            (1816, "transient"), // ERROR_NOT_ENOUGH_QUOTA
            (1784, "transient"), // ERROR_INVALID_USER_BUFFER
            // E-4: everything else is fatal.
            (5, "fatal"),    // ERROR_ACCESS_DENIED
            (6, "fatal"),    // ERROR_INVALID_HANDLE
            (14, "fatal"),   // ERROR_OUTOFMEMORY (not in the E-3 list)
            (38, "fatal"),   // ERROR_HANDLE_EOF
            (87, "fatal"),   // ERROR_INVALID_PARAMETER
            (112, "fatal"),  // ERROR_DISK_FULL
            (231, "fatal"),  // ERROR_PIPE_BUSY
            (996, "fatal"),  // ERROR_IO_INCOMPLETE (never passed here by the backend)
            (1168, "fatal"), // ERROR_NOT_FOUND
        ];
        for (code, expected) in table {
            assert_eq!(class(code), expected, "Win32 error {code}");
        }
    }

    #[test]
    fn e1_errors_without_os_code_are_fatal() {
        assert!(matches!(
            classify(io::Error::other("synthetic")),
            Outcome::Fatal(_)
        ));
        assert!(matches!(
            classify(io::Error::from_raw_os_error(-5)),
            Outcome::Fatal(_)
        ));
    }

    /// E-2: the error a peer-closed writer reports maps to `BrokenPipe`, as on Unix.
    #[test]
    fn e2_peer_closed_codes_are_broken_pipe_kind() {
        for code in [232, 109] {
            assert_eq!(
                io::Error::from_raw_os_error(code).kind(),
                io::ErrorKind::BrokenPipe,
                "Win32 error {code}"
            );
        }
    }
}
