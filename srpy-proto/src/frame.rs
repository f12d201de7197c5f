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
