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
#[cfg(unix)]
mod fifo;
mod payload;
mod pipe;
mod process;
mod sync;
mod sys;
mod writer;

#[cfg(any(feature = "tokio", feature = "futures-io"))]
pub use crate::async_io::AsyncPipeWriter;
pub use crate::core::{Accepted, RetryPolicy, Unwritten};
pub use crate::error::WriteError;
pub use crate::event::{Event, EventReceiver};
#[cfg(unix)]
pub use crate::fifo::Fifo;
pub use crate::pipe::{pipe, PipeBuilder, WriteEnd};
pub use crate::process::{
    communicate, spawn_with_writer, Communicate, CommunicateError, DEFAULT_OUTPUT_LIMIT,
};
pub use crate::writer::{Builder, DropPolicy, IntoPipeHandle, OwnedPipe, Payload, PipeWriter};
