//! Async framing over tokio byte streams.
//!
//! [`FrameReader::read_frame`] yields `Ok(None)` on a clean close (EOF at a
//! frame boundary) and [`Error::Truncated`] on a close mid-frame.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::cbor;
use crate::error::{Error, Result};
use crate::frame::{check_len, DEFAULT_MAX_FRAME};
use crate::value::Value;

/// Reads frames from a byte stream, enforcing a maximum frame size.
pub struct FrameReader<R> {
    inner: BufReader<R>,
    max_frame: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner: BufReader::with_capacity(64 * 1024, inner),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// Changes the maximum frame size (e.g. after authentication).
    pub fn set_max_frame(&mut self, max: usize) {
        self.max_frame = max;
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Reads one frame's payload. `None` on a clean close.
    pub async fn read_frame(&mut self) -> Result<Option<Vec<u8>>> {
        let mut len = [0u8; 4];
        // A close before the first byte of a frame is clean; after it, not.
        let n = self.inner.read(&mut len[..1]).await?;
        if n == 0 {
            return Ok(None);
        }
        self.inner
            .read_exact(&mut len[1..])
            .await
            .map_err(eof_is_truncated)?;
        let len = check_len(u32::from_be_bytes(len), self.max_frame)?;
        // Read into reserved (not zeroed) capacity; `take` bounds the read.
        let mut payload = crate::frame::big_buffer(len);
        let got = (&mut self.inner)
            .take(len as u64)
            .read_to_end(&mut payload)
            .await?;
        if got != len {
            return Err(Error::Truncated);
        }
        Ok(Some(payload))
    }

    /// Reads and decodes one frame. `None` on a clean close. A big byte
    /// string in the frame becomes a value without being copied again
    /// ([`cbor::decode_owned`]).
    pub async fn read_value(&mut self) -> Result<Option<Value>> {
        match self.read_frame().await? {
            Some(payload) => Ok(Some(cbor::decode_owned(payload)?)),
            None => Ok(None),
        }
    }

    pub fn into_inner(self) -> R {
        self.inner.into_inner()
    }
}

fn eof_is_truncated(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::Truncated
    } else {
        Error::Io(e)
    }
}

/// Writes whole frames (see [`crate::frame::encode_frame`]).
pub struct FrameWriter<W> {
    inner: W,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(inner: W) -> Self {
        FrameWriter { inner }
    }

    /// Writes an already encoded frame (length prefix included).
    pub async fn write_encoded(&mut self, frame: &[u8]) -> Result<()> {
        self.inner.write_all(frame).await?;
        Ok(())
    }

    pub async fn write_value(&mut self, value: &Value) -> Result<()> {
        self.write_encoded(&crate::frame::encode_frame(value)).await
    }

    pub async fn flush(&mut self) -> Result<()> {
        self.inner.flush().await?;
        Ok(())
    }

    pub async fn shutdown(&mut self) -> Result<()> {
        self.inner.shutdown().await?;
        Ok(())
    }

    pub fn into_inner(self) -> W {
        self.inner
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_and_reports_clean_close() {
        let mut bytes = crate::frame::encode_frame(&Value::from("a"));
        bytes.extend(crate::frame::encode_frame(&Value::Int(2)));
        let mut r = FrameReader::new(bytes.as_slice());
        assert_eq!(r.read_value().await.unwrap(), Some(Value::from("a")));
        assert_eq!(r.read_value().await.unwrap(), Some(Value::Int(2)));
        assert_eq!(r.read_value().await.unwrap(), None);
    }

    #[tokio::test]
    async fn close_mid_frame_is_truncated() {
        let bytes = [0u8, 0, 0, 5, 1, 2];
        let mut r = FrameReader::new(&bytes[..]);
        assert!(matches!(r.read_frame().await, Err(Error::Truncated)));
        let mut r = FrameReader::new(&bytes[..2]);
        assert!(matches!(r.read_frame().await, Err(Error::Truncated)));
    }

    #[tokio::test]
    async fn max_frame_is_enforced() {
        let bytes = [0u8, 1, 0, 0];
        let mut r = FrameReader::new(&bytes[..]);
        r.set_max_frame(1000);
        assert!(matches!(
            r.read_frame().await,
            Err(Error::FrameTooLarge {
                size: 65536,
                max: 1000
            })
        ));
    }
}
