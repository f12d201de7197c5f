//! What the server and every client share about TLS (feature `tls`):
//! the connection stream that may be TLS ([`NetStream`]) and its halves,
//! PEM loading, and certificate fingerprints (`docs/PROTOCOL.md`, section 3).
//!
//! TLS is one step between connecting and the handshake: the client wraps
//! its connected socket (`srpy_client::tls`), the server its accepted one
//! (`srpy_server::tls`), and the handshake then runs on the [`NetStream`]
//! whichever it is. Plaintext keeps the socket's own halves, so the
//! non-blocking direct writes of the plaintext path stay as they are.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

pub use rustls;
pub use tokio_rustls;

/// The first byte of a TLS record carrying a handshake message (a
/// ClientHello opens with it, then the major version 3): what a plaintext
/// peer sees first when the other side speaks TLS.
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A connection after the TLS step: the socket itself, or TLS over it.
pub enum NetStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

/// The read half of a [`NetStream`].
pub enum NetRead {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<tokio_rustls::TlsStream<TcpStream>>),
}

/// The write half of a [`NetStream`].
pub enum NetWrite {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<tokio_rustls::TlsStream<TcpStream>>),
}

impl NetStream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            NetStream::Plain(s) => s,
            NetStream::Tls(s) => s.get_ref().0,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, NetStream::Tls(_))
    }

    pub fn into_split(self) -> (NetRead, NetWrite) {
        match self {
            NetStream::Plain(s) => {
                let (r, w) = s.into_split();
                (NetRead::Plain(r), NetWrite::Plain(w))
            }
            NetStream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (NetRead::Tls(r), NetWrite::Tls(w))
            }
        }
    }
}

impl NetWrite {
    /// The socket's own write half when there is no TLS (direct,
    /// non-blocking writes); `None` with TLS.
    pub fn plain(&self) -> Option<&OwnedWriteHalf> {
        match self {
            NetWrite::Plain(w) => Some(w),
            NetWrite::Tls(_) => None,
        }
    }
}

macro_rules! delegate_read {
    ($t:ty) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
                    Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
                }
            }
        }
    };
}

macro_rules! delegate_write {
    ($t:ty) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
                    Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                    Self::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    Self::Plain(s) => s.is_write_vectored(),
                    Self::Tls(s) => s.is_write_vectored(),
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Plain(s) => Pin::new(s).poll_flush(cx),
                    Self::Tls(s) => Pin::new(s).poll_flush(cx),
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
                    Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
                }
            }
        }
    };
}

delegate_read!(NetStream);
delegate_read!(NetRead);
delegate_write!(NetStream);
delegate_write!(NetWrite);

/// The certificates of a PEM file's text (`what` names it in errors).
pub fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{what}: no certificate (-----BEGIN CERTIFICATE-----) in it"
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file's text (PKCS#8, PKCS#1 or SEC1).
pub fn key_from_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("{what}: no usable private key: {e}"))
}

/// Reads a PEM file of certificates (`option` names it in errors).
pub fn read_certs(
    path: &std::path::Path,
    option: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let what = format!("{option} {}", path.display());
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {what}: {e}"))?;
    certs_from_pem(&pem, &what)
}

/// Reads a PEM private key file (`option` names it in errors).
pub fn read_key(path: &std::path::Path, option: &str) -> Result<PrivateKeyDer<'static>, String> {
    let what = format!("{option} {}", path.display());
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {what}: {e}"))?;
    key_from_pem(&pem, &what)
}

/// The SHA-256 fingerprint of a certificate (its DER bytes), as
/// `openssl x509 -fingerprint -sha256` shows it: upper-case hex pairs
/// joined by colons.
pub fn fingerprint(cert: &[u8]) -> String {
    let digest = Sha256::digest(cert);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// A pinned fingerprint as given by a user: 64 hex digits, with or
/// without colons, any case, optionally after `sha256:`. Returns the
/// canonical form of [`fingerprint`].
pub fn parse_pin(pin: &str) -> Result<String, String> {
    let trimmed = pin.trim();
    let body = trimmed
        .strip_prefix("sha256:")
        .or_else(|| trimmed.strip_prefix("SHA256:"))
        .unwrap_or(trimmed);
    let digits: String = body.chars().filter(|c| *c != ':').collect();
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "TLS pin '{pin}' is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
        ));
    }
    let upper = digits.to_ascii_uppercase();
    let pairs: Vec<&str> = (0..32).map(|i| &upper[2 * i..2 * i + 2]).collect();
    Ok(pairs.join(":"))
}

/// A TLS error as a user should read it: rustls' own words, with the
/// certificate cases spelt out.
pub fn describe(e: &rustls::Error) -> String {
    use rustls::{CertificateError, Error};
    match e {
        Error::InvalidCertificate(CertificateError::Expired)
        | Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            format!("the certificate has expired ({e})")
        }
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            format!("the certificate is not signed by a trusted CA ({e})")
        }
        Error::InvalidCertificate(CertificateError::NotValidForName)
        | Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            format!("the certificate is not valid for this host name ({e})")
        }
        _ => e.to_string(),
    }
}

/// The rustls error inside an I/O error from a TLS handshake, if any.
pub fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_read_in_any_usual_form() {
        let canonical = fingerprint(b"certificate");
        let bare: String = canonical.chars().filter(|c| *c != ':').collect();
        assert_eq!(parse_pin(&canonical).unwrap(), canonical);
        assert_eq!(parse_pin(&bare.to_lowercase()).unwrap(), canonical);
        assert_eq!(parse_pin(&format!("sha256:{bare}")).unwrap(), canonical);
        let err = parse_pin("AB:CD").unwrap_err();
        assert!(err.contains("not a SHA-256 fingerprint"), "{err}");
    }

    #[test]
    fn pem_errors_name_the_file() {
        let err = certs_from_pem(b"hello", "--tls-cert x.pem").unwrap_err();
        assert!(
            err.contains("--tls-cert x.pem") && err.contains("no certificate"),
            "{err}"
        );
        let err = key_from_pem(b"hello", "--tls-key k.pem").unwrap_err();
        assert!(
            err.contains("--tls-key k.pem") && err.contains("no usable private key"),
            "{err}"
        );
    }
}
