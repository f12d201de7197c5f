//! Connection and per-call options, and output sinks.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use srpy_proto::buf::RecvAlloc;
use srpy_proto::Stream;

/// Environment variable read for the token when [`ConnectOptions::token`]
/// is `None`.
pub const TOKEN_ENV: &str = "SRPY_TOKEN";

/// Where remote stdout/stderr text goes: called once per `out` frame, on the
/// connection's reader task, so it should be quick (no blocking I/O beyond a
/// local write).
pub type OutputSink = Arc<dyn Fn(Stream, &str) + Send + Sync>;

/// Wraps a closure as an [`OutputSink`].
pub fn output_sink(f: impl Fn(Stream, &str) + Send + Sync + 'static) -> OutputSink {
    Arc::new(f)
}

/// The default sink: remote stdout to the local stdout, remote stderr to
/// the local stderr, unchanged.
pub fn stdio_sink() -> OutputSink {
    Arc::new(|stream, text| {
        let _ = match stream {
            Stream::Stdout => {
                let mut o = std::io::stdout().lock();
                o.write_all(text.as_bytes()).and_then(|_| o.flush())
            }
            Stream::Stderr => {
                let mut o = std::io::stderr().lock();
                o.write_all(text.as_bytes()).and_then(|_| o.flush())
            }
        };
    })
}

/// A sink that drops all output.
pub fn discard_sink() -> OutputSink {
    Arc::new(|_, _| {})
}

/// How to connect to a server or an engine.
#[derive(Clone)]
pub struct ConnectOptions {
    /// The shared secret of the server. `None`: taken from the environment
    /// variable `SRPY_TOKEN` when set there, else no token.
    pub token: Option<Vec<u8>>,
    /// Bound on connecting: TCP connect, handshake, and for
    /// `srpy://host:port/<index>` resolving the engine through the server
    /// (including waiting for a restarting engine). Default 10 s.
    pub connect_timeout: Duration,
    /// Timeout applied to every call that does not set its own
    /// ([`CallOptions::timeout`]). Default: none.
    pub default_call_timeout: Option<Duration>,
    /// Accept pickled values from engines (announces the `pickle` feature).
    /// Only for Python callers that will unpickle them; default off.
    pub accept_pickle: bool,
    /// Where big received `bytes` values are read to (default: vectors).
    /// A language binding passes memory of its own string type, so a
    /// result arrives without a copy (the Python module gives `bytes`).
    pub recv_alloc: Option<Arc<dyn RecvAlloc>>,
    /// Verify the server's TLS certificate against this CA certificate
    /// file (PEM). Any `tls_*` option (or a `srpys://` address) means TLS.
    pub tls_ca: Option<PathBuf>,
    /// Verify the server by the SHA-256 fingerprint of its certificate
    /// (as `srpy-server --tls auto` prints it; colons optional).
    pub tls_pin: Option<String>,
    /// Present this client certificate (PEM) to a server that asks for
    /// one (mutual TLS); with [`ConnectOptions::tls_key`].
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of [`ConnectOptions::tls_cert`].
    pub tls_key: Option<PathBuf>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            token: None,
            connect_timeout: Duration::from_secs(10),
            default_call_timeout: None,
            accept_pickle: false,
            recv_alloc: None,
            tls_ca: None,
            tls_pin: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl ConnectOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts pickled values from engines (see [`ConnectOptions::accept_pickle`]).
    pub fn accept_pickle(mut self, yes: bool) -> Self {
        self.accept_pickle = yes;
        self
    }

    /// Reads big `bytes` results into memory from `alloc` (see
    /// [`ConnectOptions::recv_alloc`]).
    pub fn recv_alloc(mut self, alloc: Arc<dyn RecvAlloc>) -> Self {
        self.recv_alloc = Some(alloc);
        self
    }

    pub fn token(mut self, token: impl Into<Vec<u8>>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    pub fn default_call_timeout(mut self, t: Option<Duration>) -> Self {
        self.default_call_timeout = t;
        self
    }

    /// Verifies the server by this CA file (see [`ConnectOptions::tls_ca`]).
    pub fn tls_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca = Some(path.into());
        self
    }

    /// Verifies the server by this fingerprint (see [`ConnectOptions::tls_pin`]).
    pub fn tls_pin(mut self, fingerprint: impl Into<String>) -> Self {
        self.tls_pin = Some(fingerprint.into());
        self
    }

    /// Presents this client certificate and key (mutual TLS).
    pub fn tls_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls_cert = Some(cert.into());
        self.tls_key = Some(key.into());
        self
    }

    /// Whether any `tls_*` option is set (TLS even for a `srpy://` address).
    pub fn uses_tls(&self) -> bool {
        self.tls_ca.is_some()
            || self.tls_pin.is_some()
            || self.tls_cert.is_some()
            || self.tls_key.is_some()
    }

    /// The token in force: the option, else `SRPY_TOKEN`, else none.
    pub fn effective_token(&self) -> Option<Vec<u8>> {
        self.token.clone().or_else(|| {
            std::env::var_os(TOKEN_ENV)
                .filter(|t| !t.is_empty())
                .map(|t| t.into_encoded_bytes())
        })
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("default_call_timeout", &self.default_call_timeout)
            .field("tls_ca", &self.tls_ca)
            .field("tls_pin", &self.tls_pin)
            .field("tls_cert", &self.tls_cert)
            .finish()
    }
}

/// Options of one call ([`crate::Engine::request`]).
#[derive(Clone, Default)]
pub struct CallOptions {
    /// Give up after this long: the call returns
    /// [`Error::Timeout`](crate::Error::Timeout), the engine is sent an
    /// `interrupt`, and the late reply is dropped. `None`: the engine's
    /// [`ConnectOptions::default_call_timeout`].
    pub timeout: Option<Duration>,
    /// Where this call's remote output goes. `None`: the engine's output
    /// handler ([`crate::Engine::set_output_handler`]).
    pub output: Option<OutputSink>,
}

impl CallOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    pub fn output(mut self, sink: OutputSink) -> Self {
        self.output = Some(sink);
        self
    }

    /// Sets the output sink from a closure.
    pub fn on_output(self, f: impl Fn(Stream, &str) + Send + Sync + 'static) -> Self {
        self.output(Arc::new(f))
    }
}

impl fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallOptions")
            .field("timeout", &self.timeout)
            .field("output", &self.output.as_ref().map(|_| "<sink>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let o = ConnectOptions::new().token("s3cret");
        assert!(!format!("{o:?}").contains("s3cret"));
    }

    #[test]
    fn explicit_token_wins() {
        let o = ConnectOptions::new().token(b"abc".to_vec());
        assert_eq!(o.effective_token().as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn builders_set_fields() {
        let o = ConnectOptions::new()
            .connect_timeout(Duration::from_secs(1))
            .default_call_timeout(Some(Duration::from_secs(2)));
        assert_eq!(o.connect_timeout, Duration::from_secs(1));
        assert_eq!(o.default_call_timeout, Some(Duration::from_secs(2)));
        let c = CallOptions::new()
            .timeout(Duration::from_millis(5))
            .on_output(|_, _| {});
        assert_eq!(c.timeout, Some(Duration::from_millis(5)));
        assert!(c.output.is_some());
    }
}
