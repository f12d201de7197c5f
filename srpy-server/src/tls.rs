//! The server side of the TLS step (`docs/PROTOCOL.md`, section 3): between
//! accepting a connection and the handshake, for the directory and for
//! every engine alike.
//!
//! [`TlsIdentity`] is what a server serves with: its certificate chain and
//! key as PEM text, and the CA that client certificates must chain to
//! (mutual TLS), made from `--tls-cert`/`--tls-key`/`--tls-client-ca` or
//! made up by [`TlsIdentity::self_signed`] (`--tls auto`). The supervisor
//! hands it to each engine on the engine's stdin with the rest of its
//! config, so every engine terminates TLS itself ([`TlsAcceptor`]).
//!
//! [`accept`] looks at the first byte before anything else: a TLS record
//! on a plaintext door, or a plaintext frame on a TLS door, is answered
//! with a plaintext `protocol` error naming the mismatch, so neither side
//! waits for bytes that will never come.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use srpy_proto::frame::encode_frame;
use srpy_proto::tls::{
    certs_from_pem, describe, fingerprint, key_from_pem, rustls_error, NetStream,
    TLS_HANDSHAKE_RECORD,
};
use srpy_proto::{ErrorKind, Reply};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A server's TLS certificate, key and optional client CA, as PEM text.
#[derive(Clone, serde::Deserialize, serde::Serialize)]
pub struct TlsIdentity {
    pub cert_pem: String,
    pub key_pem: String,
    /// Client certificates must chain to this CA (mutual TLS).
    pub client_ca_pem: Option<String>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint().ok())
            .field("key_pem", &"<redacted>")
            .field("mutual", &self.client_ca_pem.is_some())
            .finish()
    }
}

impl TlsIdentity {
    /// Reads `--tls-cert`, `--tls-key` and `--tls-client-ca` files.
    pub fn from_files(
        cert: &std::path::Path,
        key: &std::path::Path,
        client_ca: Option<&std::path::Path>,
    ) -> Result<TlsIdentity, String> {
        let read = |path: &std::path::Path, option: &str| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {option} {}: {e}", path.display()))
        };
        Ok(TlsIdentity {
            cert_pem: read(cert, "--tls-cert")?,
            key_pem: read(key, "--tls-key")?,
            client_ca_pem: client_ca.map(|p| read(p, "--tls-client-ca")).transpose()?,
        })
    }

    /// A self-signed certificate for these names and addresses (`--tls
    /// auto`); clients pin its fingerprint.
    pub fn self_signed(names: Vec<String>) -> Result<TlsIdentity, String> {
        let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
        let mut params = rcgen::CertificateParams::new(names)
            .map_err(|e| format!("cannot make a certificate: {e}"))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "srpy-server (--tls auto)");
        let cert = params
            .self_signed(&key)
            .map_err(|e| format!("cannot make a certificate: {e}"))?;
        Ok(TlsIdentity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            client_ca_pem: None,
        })
    }

    /// The SHA-256 fingerprint of the server's own certificate.
    pub fn fingerprint(&self) -> Result<String, String> {
        let certs = certs_from_pem(self.cert_pem.as_bytes(), "--tls-cert")?;
        Ok(fingerprint(&certs[0]))
    }
}

/// Terminates TLS on accepted connections.
#[derive(Clone)]
pub struct TlsAcceptor(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsAcceptor")
    }
}

impl TlsAcceptor {
    pub fn new(identity: &TlsIdentity) -> Result<TlsAcceptor, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = certs_from_pem(identity.cert_pem.as_bytes(), "--tls-cert")?;
        let key = key_from_pem(identity.key_pem.as_bytes(), "--tls-key")?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match &identity.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for ca in certs_from_pem(pem.as_bytes(), "--tls-client-ca")? {
                    roots
                        .add(ca)
                        .map_err(|e| format!("--tls-client-ca: unusable CA certificate: {e}"))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| format!("--tls-client-ca: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("--tls-cert/--tls-key: {}", describe(&e)))?;
        Ok(TlsAcceptor(tokio_rustls::TlsAcceptor::from(Arc::new(
            config,
        ))))
    }
}

/// The TLS step of a freshly accepted connection: TLS when the door has an
/// acceptor, the plain socket otherwise, by `deadline`. `Err` says why the
/// connection was refused (the peer has been told when it speaks the
/// other language).
pub async fn accept(
    stream: TcpStream,
    tls: Option<&TlsAcceptor>,
    deadline: tokio::time::Instant,
) -> Result<NetStream, String> {
    let mut first = [0u8; 1];
    // A close before any byte, or silence: nothing to tell apart; the
    // plaintext handshake reports it (and its deadline).
    let starts_tls = match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == TLS_HANDSHAKE_RECORD,
        _ => tls.is_some(),
    };
    match (tls, starts_tls) {
        (None, false) => Ok(NetStream::Plain(stream)),
        (Some(acceptor), true) => {
            match tokio::time::timeout_at(deadline, acceptor.0.accept(stream)).await {
                Ok(Ok(s)) => Ok(NetStream::Tls(Box::new(tokio_rustls::TlsStream::Server(s)))),
                Ok(Err(e)) => Err(match rustls_error(&e) {
                    Some(e) => format!("TLS handshake failed: {}", describe(e)),
                    None => format!("TLS handshake failed: {e}"),
                }),
                Err(_) => Err("TLS handshake not completed in time".to_owned()),
            }
        }
        (None, true) => {
            let why = "this server does not use TLS, but the client began a TLS handshake \
                       (connect with srpy://, or start the server with TLS)";
            Err(refuse_plain(stream, why).await)
        }
        (Some(_), false) => {
            let why = "this server requires TLS: connect with a srpys:// address \
                       (and tls_ca or tls_pin to verify the server)";
            Err(refuse_plain(stream, why).await)
        }
    }
}

/// Tells a peer of the other language why it is refused, in a plaintext
/// `err` frame (a TLS client sees bytes that are not TLS and says so).
async fn refuse_plain(mut stream: TcpStream, why: &str) -> String {
    let frame = encode_frame(&Reply::err(None, ErrorKind::Protocol, why.to_owned()).into_value());
    let _ = stream.write_all(&frame).await;
    let _ = stream.shutdown().await;
    why.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_identity_serves_and_has_a_fingerprint() {
        let id = TlsIdentity::self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        TlsAcceptor::new(&id).unwrap();
        let fp = id.fingerprint().unwrap();
        assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
        assert!(!format!("{id:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn a_key_that_does_not_match_is_refused_by_name() {
        let a = TlsIdentity::self_signed(vec!["localhost".into()]).unwrap();
        let b = TlsIdentity::self_signed(vec!["localhost".into()]).unwrap();
        let mixed = TlsIdentity {
            key_pem: b.key_pem,
            ..a
        };
        let err = TlsAcceptor::new(&mixed).unwrap_err();
        assert!(err.contains("--tls-cert/--tls-key"), "{err}");
    }
}
