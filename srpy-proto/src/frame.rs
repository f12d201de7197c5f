//! Framing: a 4-byte big-endian length, then exactly one CBOR data item.
//!
//! `docs/PROTOCOL.md`, "Frames": "A receiver MUST check the length against
//! its maximum frame size before allocating anything for the frame, and MUST
//! close the connection after an oversized length."

use crate::cbor;
use crate::error::{Error, Result};
use crate::value::Value;

/// Default maximum frame size once authenticated: 1 GiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 30;
/// Maximum frame size before authentication: only the handshake is read
/// then, and its messages are small.
pub const HANDSHAKE_MAX_FRAME: usize = 4096;

/// Encodes `value` as a complete frame (length prefix included) in one
/// buffer, so it goes out in a single write.
pub fn encode_frame(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[0; 4]);
    cbor::encode_into(value, &mut out);
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// Checks a frame's length prefix against `max`.
pub fn check_len(len: u32, max: usize) -> Result<usize> {
    if len as u64 > max as u64 {
        return Err(Error::FrameTooLarge {
            size: len as u64,
            max,
        });
    }
    Ok(len as usize)
}

/// Splits one frame off a byte slice: `(payload, rest)`, for synchronous
/// users (tests, vectors). `Err(Truncated)` when incomplete.
pub fn split_frame(bytes: &[u8], max: usize) -> Result<(&[u8], &[u8])> {
    if bytes.len() < 4 {
        return Err(Error::Truncated);
    }
    let len = check_len(u32::from_be_bytes(bytes[..4].try_into().unwrap()), max)?;
    let rest = &bytes[4..];
    if rest.len() < len {
        return Err(Error::Truncated);
    }
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_length_then_cbor() {
        let f = encode_frame(&Value::Int(1));
        assert_eq!(f, vec![0, 0, 0, 1, 0x01]);
        let (payload, rest) = split_frame(&f, 10).unwrap();
        assert_eq!(payload, &[0x01]);
        assert!(rest.is_empty());
    }

    #[test]
    fn oversized_length_is_refused_before_reading() {
        let err = split_frame(&[0xff, 0xff, 0xff, 0xff], 1024).unwrap_err();
        assert_eq!(
            err.to_string(),
            "frame of 4294967295 bytes exceeds the maximum frame size of 1024 bytes"
        );
    }
}

/// Byte strings from this size on are written from where they lie instead
/// of being copied into the frame buffer.
pub const SEGMENT_MIN: usize = 64 * 1024;

/// One piece of an [`OwnedFrame`].
#[derive(Clone, Copy, Debug)]
enum Piece {
    /// A range of the frame's own small-bytes buffer.
    Small(usize, usize),
    /// A big buffer inside the frame's value (pointer and length).
    Big(*const u8, usize),
}

/// A frame ready to write that owns its value: the length prefix and the
/// CBOR structure are encoded into a small buffer, while big byte strings
/// and array buffers stay where they are in the value and are written from
/// there with vectored I/O (no copy of bulk data on the way out).
pub struct OwnedFrame {
    // Never read directly: `pieces` points into its heap buffers, which do
    // not move (or change) while the frame owns the value.
    _value: Value,
    small: Vec<u8>,
    pieces: Vec<Piece>,
    len: usize,
}

// SAFETY: the raw pointers refer to heap buffers owned by `_value`, which
// is never mutated; moving the frame to another thread moves the owner too.
unsafe impl Send for OwnedFrame {}
unsafe impl Sync for OwnedFrame {}

struct SegmentSink {
    small: Vec<u8>,
    pieces: Vec<Piece>,
    start: usize,
}

impl cbor::Sink for SegmentSink {
    fn byte(&mut self, b: u8) {
        self.small.push(b)
    }
    fn bytes(&mut self, b: &[u8]) {
        self.small.extend_from_slice(b)
    }
    fn big(&mut self, b: &[u8]) {
        if b.len() < SEGMENT_MIN {
            return self.small.extend_from_slice(b);
        }
        if self.small.len() > self.start {
            self.pieces.push(Piece::Small(self.start, self.small.len()));
        }
        self.start = self.small.len();
        self.pieces.push(Piece::Big(b.as_ptr(), b.len()));
    }
}

impl OwnedFrame {
    /// Encodes `value` as a frame (length prefix included).
    pub fn new(value: Value) -> Result<OwnedFrame> {
        let mut sink = SegmentSink {
            small: vec![0; 4],
            pieces: Vec::new(),
            start: 0,
        };
        cbor::encode_to(&value, &mut sink);
        if sink.small.len() > sink.start {
            sink.pieces.push(Piece::Small(sink.start, sink.small.len()));
        }
        let len: usize = sink
            .pieces
            .iter()
            .map(|p| match *p {
                Piece::Small(a, b) => b - a,
                Piece::Big(_, n) => n,
            })
            .sum();
        let payload = len - 4;
        let prefix = u32::try_from(payload).map_err(|_| Error::FrameTooLarge {
            size: payload as u64,
            max: u32::MAX as usize,
        })?;
        sink.small[..4].copy_from_slice(&prefix.to_be_bytes());
        Ok(OwnedFrame {
            _value: value,
            small: sink.small,
            pieces: sink.pieces,
            len,
        })
    }

    /// Total length of the frame, prefix included.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The unwritten part after `skip` bytes, as slices for vectored I/O.
    pub fn slices(&self, mut skip: usize) -> Vec<std::io::IoSlice<'_>> {
        let mut out = Vec::with_capacity(self.pieces.len());
        for p in &self.pieces {
            let s: &[u8] = match *p {
                Piece::Small(a, b) => &self.small[a..b],
                // SAFETY: points into `_value`, alive and unchanged for as
                // long as `self` is borrowed.
                Piece::Big(ptr, n) => unsafe { std::slice::from_raw_parts(ptr, n) },
            };
            if skip >= s.len() {
                skip -= s.len();
                continue;
            }
            out.push(std::io::IoSlice::new(&s[skip..]));
            skip = 0;
        }
        out
    }

    /// The whole frame as one contiguous buffer (tests, small frames).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for s in self.slices(0) {
            v.extend_from_slice(&s);
        }
        v
    }
}

/// An empty vector with room for `n` bytes: a recently freed one from the
/// [`crate::pool`] when one fits, else a new one. A large new one asks the
/// kernel for transparent huge pages (Linux's `madvise` mode): faulting in 64 MiB of
/// fresh 4 KiB pages costs about as much again as copying into them.
pub fn big_buffer(n: usize) -> Vec<u8> {
    if let Some(v) = crate::pool::take(n) {
        return v;
    }
    let v = Vec::<u8>::with_capacity(n);
    if n >= HUGE_PAGE_MIN {
        advise_huge_pages(v.as_ptr(), n);
    }
    v
}

/// Asks for transparent huge pages over the whole pages inside
/// `[ptr, ptr + len)`, memory not touched yet. Advice only: contents never
/// change, and it does nothing where the kernel offers no such thing.
pub fn advise_huge_pages(ptr: *const u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = ptr as usize;
        let aligned = (start + PAGE - 1) & !(PAGE - 1);
        let end = (start + len) & !(PAGE - 1);
        if end > aligned {
            // SAFETY: the range lies inside the caller's allocation;
            // MADV_HUGEPAGE never changes its contents.
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

/// Buffers from this size on get huge pages (numpy uses 4 MiB too).
pub const HUGE_PAGE_MIN: usize = 4 << 20;

#[cfg(test)]
mod owned_frame_tests {
    use super::*;
    use crate::value::{DType, NdArray, Order};

    #[test]
    fn owned_frame_bytes_equal_the_contiguous_encoding() {
        let big = vec![7u8; SEGMENT_MIN * 2 + 3];
        let arr = NdArray::new(
            DType::U8,
            vec![SEGMENT_MIN as u64],
            Order::RowMajor,
            vec![1; SEGMENT_MIN],
        )
        .unwrap();
        for v in [
            Value::Int(5),
            Value::Bytes(big.clone().into()),
            Value::map([
                ("a", Value::Bytes(big.clone().into())),
                ("b", Value::Array(arr)),
                ("c", Value::from("tail")),
            ]),
        ] {
            let f = OwnedFrame::new(v.clone()).unwrap();
            assert_eq!(f.to_vec(), encode_frame(&v));
            assert_eq!(f.len(), encode_frame(&v).len());
            // Resuming after any split point gives the rest.
            let whole = f.to_vec();
            for skip in [0, 1, 4, 5, whole.len() / 2, whole.len() - 1] {
                let rest: Vec<u8> = f.slices(skip).iter().flat_map(|s| s.to_vec()).collect();
                assert_eq!(rest, whole[skip..]);
            }
        }
    }
}
