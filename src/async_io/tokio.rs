//! `tokio::io::AsyncWrite` for [`AsyncPipeWriter`]. Needs no tokio feature and no
//! runtime: the trait is all that is used.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{single, AsyncPipeWriter};

impl ::tokio::io::AsyncWrite for AsyncPipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writer.poll_write_bufs(cx, &single(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.writer.poll_write_bufs(cx, bufs)
    }

    /// True: several buffers are queued in one call, so `write_vectored` and `write_buf` on
    /// chained buffers cost one lock instead of one per buffer.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.poll_flush_all(cx)
    }

    /// Flushes, then closes the handle so the reader sees end-of-file, without waiting for
    /// this value to be dropped (unlike tokio's own pipe types, tokio#4477).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.poll_close_all(cx)
    }
}
