//! Byte buffers carried by values: an owned vector, or memory owned by
//! something else (a Python `bytes` or numpy array, a buffer the reader
//! filled) that is shared instead of copied.
//!
//! Bulk data is the reason this type exists. A 64 MiB `bytes` a client
//! sends is written to the socket from the Python object itself; a 64 MiB
//! byte string an engine receives is read straight into the Python `bytes`
//! that its namespace will hold. Either way the data is touched only by the
//! kernel's copy (`docs/PERFORMANCE.md`, "Zero-copy bulk").

use std::any::Any;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// Memory owned elsewhere that a [`Buf`] shares.
///
/// # Safety
/// [`BufOwner::bytes`] must return the same slice on every call, and its
/// contents must not change while a `Buf` refers to the owner (the frame
/// writer reads it from another thread, without locks).
pub unsafe trait BufOwner: Any + Send + Sync {
    fn bytes(&self) -> &[u8];
}

/// An immutable byte buffer: a vector, or shared memory of a [`BufOwner`].
///
/// Derefs to `[u8]`; equality and hashing are by content. Cloning a shared
/// buffer shares it; cloning a vector copies it, as `Vec` does.
#[derive(Clone, Default)]
pub struct Buf(Repr);

#[derive(Clone)]
enum Repr {
    Vec(Vec<u8>),
    Shared(Arc<dyn BufOwner>),
}

impl Drop for Buf {
    fn drop(&mut self) {
        // A big received buffer goes back to the pool for the next receive.
        if let Repr::Vec(v) = &mut self.0 {
            if v.capacity() >= crate::pool::POOL_MIN {
                crate::pool::recycle(std::mem::take(v));
            }
        }
    }
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Vec(Vec::new())
    }
}

impl Buf {
    /// A buffer sharing `owner`'s memory (no copy).
    pub fn shared(owner: Arc<dyn BufOwner>) -> Buf {
        Buf(Repr::Shared(owner))
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Vec(v) => v,
            Repr::Shared(o) => o.bytes(),
        }
    }

    /// The owner of shared memory, if `T` is its type: how a language
    /// binding recognises its own object coming back (a Python `bytes`
    /// received in place is handed over as it is).
    pub fn owner<T: BufOwner>(&self) -> Option<&T> {
        match &self.0 {
            Repr::Shared(o) => {
                let any: &dyn Any = &**o;
                any.downcast_ref::<T>()
            }
            Repr::Vec(_) => None,
        }
    }

    /// Whether the memory is shared with an owner (not a vector of its own).
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Repr::Shared(_))
    }

    /// The bytes as a vector: moved out when this is a vector, copied when
    /// the memory is shared.
    pub fn into_vec(mut self) -> Vec<u8> {
        match std::mem::take(&mut self.0) {
            Repr::Vec(v) => v,
            Repr::Shared(o) => o.bytes().to_vec(),
        }
    }

    /// The vector, to change in place (a shared buffer is copied first).
    pub fn make_mut(&mut self) -> &mut Vec<u8> {
        if let Repr::Shared(o) = &self.0 {
            self.0 = Repr::Vec(o.bytes().to_vec());
        }
        match &mut self.0 {
            Repr::Vec(v) => v,
            Repr::Shared(_) => unreachable!("made a vector just above"),
        }
    }
}

impl Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Buf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<Vec<u8>> for Buf {
    fn from(v: Vec<u8>) -> Buf {
        Buf(Repr::Vec(v))
    }
}

impl From<&[u8]> for Buf {
    fn from(v: &[u8]) -> Buf {
        Buf(Repr::Vec(v.to_vec()))
    }
}

impl<const N: usize> From<[u8; N]> for Buf {
    fn from(v: [u8; N]) -> Buf {
        Buf(Repr::Vec(v.to_vec()))
    }
}

impl<const N: usize> From<&[u8; N]> for Buf {
    fn from(v: &[u8; N]) -> Buf {
        Buf(Repr::Vec(v.to_vec()))
    }
}

impl From<Buf> for Vec<u8> {
    fn from(b: Buf) -> Vec<u8> {
        b.into_vec()
    }
}

impl fmt::Debug for Buf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl PartialEq for Buf {
    fn eq(&self, other: &Buf) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Buf {}

impl PartialEq<[u8]> for Buf {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Vec<u8>> for Buf {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<&[u8]> for Buf {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Buf {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_slice() == other
    }
}

impl FromIterator<u8> for Buf {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Buf {
        Buf(Repr::Vec(iter.into_iter().collect()))
    }
}

impl Hash for Buf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

/// Memory a [`crate::connection::FrameReader`] fills with a big received
/// byte string, then hands over as a shared [`Buf`].
pub struct RecvTarget {
    owner: Arc<dyn BufOwner>,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the pointer refers to memory of `owner` (Send + Sync) that only
// the holder of this target writes.
unsafe impl Send for RecvTarget {}

impl RecvTarget {
    /// # Safety
    /// `ptr..ptr + len` must be the memory `owner.bytes()` returns, valid
    /// for writes, and read or written by no one else until
    /// [`RecvTarget::into_buf`]. Its contents may be uninitialised.
    pub unsafe fn new(owner: Arc<dyn BufOwner>, ptr: *mut u8, len: usize) -> RecvTarget {
        RecvTarget { owner, ptr, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The memory to fill, possibly uninitialised.
    pub fn spare(&mut self) -> &mut [std::mem::MaybeUninit<u8>] {
        // SAFETY: per `new`, writable memory of `len` bytes that only we
        // access; MaybeUninit makes no claim about its contents.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast(), self.len) }
    }

    /// The filled buffer. The caller has written all `len` bytes.
    pub fn into_buf(self) -> Buf {
        Buf::shared(self.owner)
    }
}

/// Chooses where big received byte strings go (see [`RecvTarget`]).
pub trait RecvAlloc: Send + Sync {
    /// Memory for a plain byte string (a `bytes` value) of `n` bytes, or
    /// `None` to read it into a vector.
    fn alloc_bytes(&self, n: usize) -> Option<RecvTarget>;
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Static(&'static [u8]);
    // SAFETY: a static slice never changes.
    unsafe impl BufOwner for Static {
        fn bytes(&self) -> &[u8] {
            self.0
        }
    }

    #[test]
    fn shared_and_owned_buffers_compare_by_content() {
        let shared = Buf::shared(Arc::new(Static(b"abc")));
        let owned = Buf::from(b"abc".to_vec());
        assert_eq!(shared, owned);
        assert!(shared.is_shared() && !owned.is_shared());
        assert_eq!(&shared[..], b"abc");
        assert_eq!(format!("{shared:?}"), "[97, 98, 99]");
        assert!(shared.owner::<Static>().is_some());
        assert!(owned.owner::<Static>().is_none());
        assert_eq!(shared.clone().into_vec(), b"abc".to_vec());
        let mut m = shared.clone();
        m.make_mut().push(b'd');
        assert_eq!(&m[..], b"abcd");
        assert_eq!(
            &shared[..],
            b"abc",
            "a shared buffer is copied before a change"
        );
    }
}
