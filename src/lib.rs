//! Write to pipes without ever blocking the caller.
//!
//! TODO crate docs
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod async_io;
mod core;
mod error;
mod event;
#[cfg(feature = "fault-injection")]
pub mod fault;
mod payload;
mod sync;
mod sys;
mod writer;

#[cfg(any(feature = "tokio", feature = "futures-io"))]
pub use crate::async_io::AsyncPipeWriter;
pub use crate::core::{Accepted, RetryPolicy, Unwritten};
pub use crate::error::WriteError;
pub use crate::event::{Event, EventReceiver};
pub use crate::writer::{Builder, DropPolicy, IntoPipeHandle, OwnedPipe, Payload, PipeWriter};
