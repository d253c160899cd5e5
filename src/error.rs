//! The error of a refused write, which hands the data back.

use std::error::Error;
use std::fmt;
use std::io;

/// A write the writer refused, with the data that was not queued (nothing is ever dropped
/// silently).
///
/// The kinds of refusal are listed on [`PipeWriter::write`](crate::PipeWriter::write).
pub struct WriteError<P> {
    error: io::Error,
    data: P,
}

impl<P> WriteError<P> {
    pub(crate) fn new(error: io::Error, data: P) -> Self {
        WriteError { error, data }
    }

    /// Why the write was refused.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The error's kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.error.kind()
    }

    /// The data that was not queued.
    pub fn data(&self) -> &P {
        &self.data
    }

    /// Gives the data back.
    pub fn into_data(self) -> P {
        self.data
    }

    /// Drops the data and keeps the error.
    pub fn into_error(self) -> io::Error {
        self.error
    }

    /// The error and the data.
    pub fn into_parts(self) -> (io::Error, P) {
        (self.error, self.data)
    }
}

impl<P> fmt::Debug for WriteError<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<P> fmt::Display for WriteError<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "write refused: {}", self.error)
    }
}

impl<P> Error for WriteError<P> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

impl<P> From<WriteError<P>> for io::Error {
    fn from(e: WriteError<P>) -> io::Error {
        e.error
    }
}
