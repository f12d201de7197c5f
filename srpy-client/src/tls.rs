//! The client side of the TLS step (`docs/PROTOCOL.md`, section 3): between
//! connecting and the handshake.
//!
//! TLS is used for a `srpys://` address, or when any `tls_*` option is set.
//! The server is verified by a CA file ([`ConnectOptions::tls_ca`]: the
//! usual chain and host name checks) or by the SHA-256 fingerprint of its
//! certificate ([`ConnectOptions::tls_pin`]: that certificate and no other,
//! whatever its name or dates, as ssh does with host keys); a client
//! certificate ([`ConnectOptions::tls_cert`]/[`ConnectOptions::tls_key`])
//! answers a server that asks for one (mutual TLS).
//!
//! Failures become errors that name their cause: the server's certificate
//! (wrong CA, pin mismatch with both fingerprints, expired) is an
//! [`Error::Auth`]; a server that does not answer in TLS is an
//! [`Error::Protocol`] that says it looks like a plaintext server.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use srpy_proto::tls::{
    describe, fingerprint, parse_pin, read_certs, read_key, rustls_error, NetStream,
};
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::options::ConnectOptions;

/// A configured TLS client for one address.
pub(crate) struct TlsClient {
    connector: tokio_rustls::TlsConnector,
}

impl TlsClient {
    /// The TLS client the options ask for; `None` for plaintext. `tls`:
    /// the address is `srpys://`.
    pub(crate) fn new(opts: &ConnectOptions, tls: bool) -> Result<Option<TlsClient>> {
        if !tls && !opts.uses_tls() {
            return Ok(None);
        }
        let bad = |m: String| Error::Other(format!("TLS options: {m}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> =
            match (&opts.tls_ca, &opts.tls_pin) {
                (Some(_), Some(_)) => {
                    return Err(bad("give tls_ca or tls_pin, not both".into()));
                }
                (Some(ca), None) => {
                    let mut roots = RootCertStore::empty();
                    for cert in read_certs(ca, "tls_ca").map_err(bad)? {
                        roots.add(cert).map_err(|e| {
                            bad(format!("tls_ca {}: unusable CA: {e}", ca.display()))
                        })?;
                    }
                    WebPkiServerVerifier::builder_with_provider(roots.into(), provider.clone())
                        .build()
                        .map_err(|e| bad(e.to_string()))?
                }
                (None, Some(pin)) => Arc::new(PinVerifier {
                    pin: parse_pin(pin).map_err(bad)?,
                    provider: provider.clone(),
                }),
                (None, None) => return Err(bad(
                    "TLS needs a way to verify the server: give tls_ca (a CA certificate file) \
                     or tls_pin (the SHA-256 fingerprint the server prints)"
                        .into(),
                )),
            };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&opts.tls_cert, &opts.tls_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let certs = read_certs(cert, "tls_cert").map_err(bad)?;
                let key = read_key(key, "tls_key").map_err(bad)?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| bad(format!("tls_cert/tls_key: {}", describe(&e))))?
            }
            _ => return Err(bad("tls_cert and tls_key go together".into())),
        };
        Ok(Some(TlsClient {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }))
    }
}

/// The TLS step on a connected socket: TLS with `tls`, else the socket
/// itself. `uri` names the peer in errors.
pub(crate) async fn wrap(
    stream: TcpStream,
    tls: Option<&TlsClient>,
    host: &str,
    uri: &str,
) -> Result<NetStream> {
    let Some(tls) = tls else {
        return Ok(NetStream::Plain(stream));
    };
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Error::InvalidUri(format!("{uri}: '{host}' is not a TLS server name: {e}")))?;
    match tls.connector.connect(name, stream).await {
        Ok(s) => Ok(NetStream::Tls(Box::new(tokio_rustls::TlsStream::Client(s)))),
        Err(e) => Err(handshake_error(e, uri)),
    }
}

/// A failed TLS handshake as the error that names its cause.
fn handshake_error(e: std::io::Error, uri: &str) -> Error {
    match rustls_error(&e) {
        Some(rustls::Error::InvalidMessage(_)) => Error::Protocol(format!(
            "{uri} did not answer in TLS: it looks like a plaintext SRPy server \
             (connect with srpy://, or start the server with TLS) ({e})"
        )),
        Some(rustls::Error::General(message)) => Error::Auth(format!("TLS: {uri}: {message}")),
        Some(e) => Error::Auth(format!("TLS: {uri}: {}", describe(e))),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => Error::Protocol(format!(
            "{uri} closed the connection during the TLS handshake"
        )),
        None => Error::Io(e),
    }
}

/// An I/O error during the SRPy handshake over TLS: the server's TLS
/// alert (a refused client certificate) names the cause.
pub(crate) fn refusal(e: &std::io::Error, uri: &str) -> Option<Error> {
    let e = rustls_error(e)?;
    Some(Error::Auth(format!(
        "TLS: {uri} refused the connection: {} (does it require a client certificate: \
         tls_cert/tls_key?)",
        describe(e)
    )))
}

/// Accepts exactly the certificate with the pinned fingerprint.
#[derive(Debug)]
struct PinVerifier {
    pin: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity);
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the server's certificate does not match the pinned fingerprint: \
                 pinned {}, server has {got}",
                self.pin
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
