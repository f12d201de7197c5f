//! The TLS server of the cases that need one (`"needs": ["tls"]`), started
//! once by the runner for every client: a test CA made with rcgen
//! (`ca.pem`), a second CA that signed nothing (`other-ca.pem`), and a
//! `srpy-server` with a certificate of the first for 127.0.0.1, with the
//! token of the main server.
//!
//! Drivers learn of it from `--tls-uri URI --tls-dir DIR --tls-pin PIN`
//! ([`TlsTarget::driver_args`]); a `connect` step resolves its TLS fields
//! against it ([`TlsTarget`]'s documentation says how).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use srpy_client::blocking::LocalServer;
use srpy_client::{LocalServerOptions, Uri};

/// What a driver needs to reach the TLS server. In a `connect` step,
/// `"server": "tls"` means this server, `"tls_ca": NAME` the file NAME in
/// `dir`, `"tls_pin": "server"` this server's fingerprint (any other text
/// is the pin itself), and `"plaintext": true` the `srpy://` form of the
/// address.
#[derive(Clone, Debug)]
pub struct TlsTarget {
    /// The server's address (`srpys://127.0.0.1:PORT`).
    pub uri: Uri,
    /// The folder of `ca.pem` and `other-ca.pem`.
    pub dir: PathBuf,
    /// The SHA-256 fingerprint of the server's certificate (`sha256:AB:...`).
    pub pin: String,
}

impl TlsTarget {
    /// The driver command-line arguments that name this target.
    pub fn driver_args(&self) -> Vec<OsString> {
        vec![
            "--tls-uri".into(),
            self.uri.to_string().into(),
            "--tls-dir".into(),
            self.dir.clone().into(),
            "--tls-pin".into(),
            self.pin.clone().into(),
        ]
    }
}

/// A running TLS server with its files.
pub struct TlsServer {
    pub server: LocalServer,
    pub target: TlsTarget,
}

/// Makes the certificates in `dir` and starts the server with `base`'s
/// binary and Python, one engine and `token`.
pub fn start(base: &LocalServerOptions, token: &[u8], dir: &Path) -> Result<TlsServer, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok::<PathBuf, String>(p)
    };
    let rc = |e: rcgen::Error| format!("rcgen: {e}");
    let ca = |name: &str| -> Result<Issuer<'static, KeyPair>, String> {
        let key = KeyPair::generate().map_err(rc)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("srpy conformance {name}"));
        write(
            &format!("{name}.pem"),
            params.self_signed(&key).map_err(rc)?.pem(),
        )?;
        Ok(Issuer::new(params, key))
    };
    let issuer = ca("ca")?;
    ca("other-ca")?;
    let key = KeyPair::generate().map_err(rc)?;
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).map_err(rc)?;
    let cert = write(
        "server.pem",
        params.signed_by(&key, &issuer).map_err(rc)?.pem(),
    )?;
    let key = write("server.key", key.serialize_pem())?;

    let mut opts = base.clone();
    opts.engines = 1;
    opts.token = Some(token.to_vec());
    opts.extra_args = vec![
        "--tls-cert".into(),
        cert.into(),
        "--tls-key".into(),
        key.into(),
    ];
    let server =
        LocalServer::start(opts).map_err(|e| format!("cannot start the TLS srpy-server: {e}"))?;
    let pin = server
        .connect_options()
        .tls_pin
        .ok_or("the TLS srpy-server reported no certificate fingerprint")?;
    let target = TlsTarget {
        uri: server.uri().clone(),
        dir: dir.to_owned(),
        pin,
    };
    Ok(TlsServer { server, target })
}
