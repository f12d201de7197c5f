//! Async framing over tokio byte streams.
//!
//! [`FrameReader::read_frame`] yields `Ok(None)` on a clean close (EOF at a
//! frame boundary) and [`Error::Truncated`] on a close mid-frame.

use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};

use crate::buf::{Buf, RecvAlloc};
use crate::cbor;
use crate::error::{Error, Result};
use crate::frame::{check_len, DEFAULT_MAX_FRAME};
use crate::value::Value;

/// How much of a big frame is read before looking for its big byte string.
const PREFIX: usize = 64 * 1024;

/// Reads frames from a byte stream, enforcing a maximum frame size.
pub struct FrameReader<R> {
    inner: BufReader<R>,
    max_frame: usize,
    recv_alloc: Option<Arc<dyn RecvAlloc>>,
    /// Bytes of the frames begun so far (length prefixes included).
    bytes_read: u64,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner: BufReader::with_capacity(64 * 1024, inner),
            max_frame: DEFAULT_MAX_FRAME,
            recv_alloc: None,
            bytes_read: 0,
        }
    }

    /// Chooses where big `bytes` values of later frames are read to (an
    /// engine reads them straight into Python `bytes` objects).
    pub fn set_recv_alloc(&mut self, alloc: Arc<dyn RecvAlloc>) {
        self.recv_alloc = Some(alloc);
    }

    /// Changes the maximum frame size (e.g. after authentication).
    pub fn set_max_frame(&mut self, max: usize) {
        self.max_frame = max;
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Bytes of the frames read so far, length prefixes included (a frame
    /// counts whole once its length is read).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads a frame's length prefix: `None` on a clean close.
    async fn read_len(&mut self) -> Result<Option<usize>> {
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
        self.bytes_read += 4 + len as u64;
        Ok(Some(len))
    }

    /// Appends exactly `n` bytes to `buf` (into reserved, unzeroed space).
    async fn read_into(&mut self, buf: &mut Vec<u8>, n: usize) -> Result<()> {
        buf.reserve(n);
        let got = (&mut self.inner).take(n as u64).read_to_end(buf).await?;
        if got != n {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Reads until `buf` is full.
    async fn fill(&mut self, buf: &mut ReadBuf<'_>) -> Result<()> {
        while buf.remaining() > 0 {
            let before = buf.filled().len();
            std::future::poll_fn(|cx| Pin::new(&mut self.inner).poll_read(cx, buf)).await?;
            if buf.filled().len() == before {
                return Err(Error::Truncated);
            }
        }
        Ok(())
    }

    /// Reads one frame's payload. `None` on a clean close.
    pub async fn read_frame(&mut self) -> Result<Option<Vec<u8>>> {
        let Some(len) = self.read_len().await? else {
            return Ok(None);
        };
        let mut payload = crate::frame::big_buffer(len);
        self.read_into(&mut payload, len).await?;
        Ok(Some(payload))
    }

    /// Reads and decodes one frame. `None` on a clean close.
    ///
    /// A big frame is read in two steps: its first bytes, where the header
    /// of its first big byte string is found ([`cbor::find_big_string`]),
    /// then that string's content straight into a buffer of its own, which
    /// becomes the value's buffer: the bytes are copied once, by the
    /// kernel. Other big frames go through [`cbor::decode_owned`].
    pub async fn read_value(&mut self) -> Result<Option<Value>> {
        let Some(len) = self.read_len().await? else {
            return Ok(None);
        };
        if len < cbor::OWNED_MIN {
            let mut payload = Vec::with_capacity(len);
            self.read_into(&mut payload, len).await?;
            return Ok(Some(cbor::decode(&payload)?));
        }
        let head_len = len.min(PREFIX);
        let mut small = Vec::with_capacity(head_len);
        self.read_into(&mut small, head_len).await?;
        match cbor::find_big_string(&small, cbor::OWNED_MIN) {
            Some(found) if found.offset + found.len <= len => {
                let (offset, n) = (found.offset, found.len);
                // Part of the content may already be in the first bytes.
                let have = (small.len() - offset).min(n);
                let target = match &self.recv_alloc {
                    Some(alloc) if found.plain => alloc.alloc_bytes(n).filter(|t| t.len() == n),
                    _ => None,
                };
                let big: Buf = match target {
                    Some(mut target) => {
                        let mut spare = ReadBuf::uninit(target.spare());
                        spare.put_slice(&small[offset..offset + have]);
                        self.fill(&mut spare).await?;
                        target.into_buf()
                    }
                    None => {
                        let mut big = crate::frame::big_buffer(n);
                        big.extend_from_slice(&small[offset..offset + have]);
                        self.read_into(&mut big, n - have).await?;
                        big.into()
                    }
                };
                let after = small[offset + have..].to_vec();
                small.truncate(offset);
                small.extend_from_slice(&after);
                self.read_into(&mut small, len - head_len - (n - have))
                    .await?;
                Ok(Some(cbor::decode_split(&small, offset, big)?))
            }
            _ => {
                let mut payload = crate::frame::big_buffer(len);
                payload.extend_from_slice(&small);
                drop(small);
                self.read_into(&mut payload, len - head_len).await?;
                Ok(Some(cbor::decode_owned(payload)?))
            }
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
    async fn big_frames_decode_the_same_on_every_path() {
        let big = vec![5u8; cbor::OWNED_MIN + 70_000];
        let values = [
            Value::Bytes(big.clone().into()),
            Value::map([
                ("t", Value::from("ok")),
                ("value", Value::Bytes(big.clone().into())),
            ]),
            // The big string starts after the first 64 KiB: normal path.
            Value::List(vec![
                Value::Bytes(vec![1; 70_000].into()),
                Value::Bytes(big.clone().into()),
            ]),
            Value::Str("s".repeat(cbor::OWNED_MIN)),
        ];
        let mut bytes = Vec::new();
        for v in &values {
            bytes.extend(crate::frame::encode_frame(v));
        }
        let mut r = FrameReader::new(bytes.as_slice());
        for v in &values {
            assert_eq!(r.read_value().await.unwrap().as_ref(), Some(v));
        }
        assert_eq!(r.read_value().await.unwrap(), None);
        // Cut in the middle of the big string: truncated, not a panic.
        let f = crate::frame::encode_frame(&values[0]);
        let mut r = FrameReader::new(&f[..f.len() / 2]);
        assert!(matches!(r.read_value().await, Err(Error::Truncated)));
    }

    use crate::buf::RecvTarget;

    /// Hands out its own buffers and counts them.
    struct TestAlloc(std::sync::atomic::AtomicUsize);
    struct TestOwner(Vec<u8>);
    // SAFETY: the vector is never changed once shared.
    unsafe impl crate::buf::BufOwner for TestOwner {
        fn bytes(&self) -> &[u8] {
            &self.0
        }
    }
    impl RecvAlloc for TestAlloc {
        fn alloc_bytes(&self, n: usize) -> Option<RecvTarget> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut v = vec![0u8; n];
            let ptr = v.as_mut_ptr();
            // SAFETY: moving the vector keeps its heap buffer in place.
            Some(unsafe { RecvTarget::new(Arc::new(TestOwner(v)), ptr, n) })
        }
    }

    #[tokio::test]
    async fn big_bytes_go_to_the_receive_allocator_and_nothing_else() {
        let big: Vec<u8> = (0..cbor::OWNED_MIN + 70_000).map(|i| i as u8).collect();
        let arr = crate::value::NdArray::new(
            crate::value::DType::U8,
            vec![big.len() as u64],
            crate::value::Order::RowMajor,
            big.clone(),
        )
        .unwrap();
        let values = [
            Value::Bytes(big.clone().into()),
            Value::map([(
                "vars",
                Value::map([("b", Value::Bytes(big.clone().into()))]),
            )]),
            Value::Array(arr),
            Value::Pickled(big.clone()),
        ];
        let mut bytes = Vec::new();
        for v in &values {
            bytes.extend(crate::frame::encode_frame(v));
        }
        let alloc = Arc::new(TestAlloc(Default::default()));
        let mut r = FrameReader::new(bytes.as_slice());
        r.set_recv_alloc(alloc.clone());
        let count = || alloc.0.load(std::sync::atomic::Ordering::SeqCst);
        let shared = |v: &Value| match v {
            Value::Bytes(b) => b.owner::<TestOwner>().is_some(),
            _ => false,
        };
        let first = r.read_value().await.unwrap().unwrap();
        assert_eq!(first, values[0]);
        assert!(shared(&first), "a top-level bytes value lands in place");
        let second = r.read_value().await.unwrap().unwrap();
        assert_eq!(second, values[1]);
        assert!(shared(second.get("vars").unwrap().get("b").unwrap()));
        assert_eq!(count(), 2);
        // An array's buffer and a pickle are not `bytes` values.
        assert_eq!(r.read_value().await.unwrap().unwrap(), values[2]);
        assert_eq!(r.read_value().await.unwrap().unwrap(), values[3]);
        assert_eq!(count(), 2);
        assert_eq!(r.read_value().await.unwrap(), None);
        // Cut inside the allocator's buffer: truncated, not a panic.
        let f = crate::frame::encode_frame(&values[0]);
        let mut r = FrameReader::new(&f[..f.len() - 10]);
        r.set_recv_alloc(alloc.clone());
        assert!(matches!(r.read_value().await, Err(Error::Truncated)));
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
