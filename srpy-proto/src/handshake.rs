//! Handshake messages, version negotiation and the token
//! challenge–response.
//!
//! ```text
//! client                                   server or engine
//!   ── hello {versions:[min,max], client, features} ──►
//!   ◄── challenge {version, role, auth, nonce, features}   (or error)
//!   ── auth {nonce, proof} ──►
//!   ◄── welcome {proof, info}                              (or error)
//! ```
//!
//! `docs/PROTOCOL.md`, "Authentication": the client proof is
//! `HMAC-SHA256(token, "srpy-v1 client" ‖ server_nonce ‖ client_nonce)`, the
//! server proof `HMAC-SHA256(token, "srpy-v1 server" ‖ client_nonce ‖
//! server_nonce)`. The token never crosses the wire, and a recorded `auth`
//! cannot be replayed because every connection gets a fresh server nonce.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{invalid, Result};
use crate::fields::Fields;
use crate::value::Value;

/// Protocol versions this build speaks.
pub const MIN_VERSION: u64 = 1;
pub const MAX_VERSION: u64 = 1;
/// Length of a handshake nonce.
pub const NONCE_LEN: usize = 32;

/// Optional capabilities announced in `hello` / `challenge`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// The peer accepts `out` frames (remote stdout/stderr).
    Output,
    /// The peer may send and accept pickled values (tag 42002).
    Pickle,
    /// A feature this build does not know; kept so it can be logged.
    Unknown(String),
}

impl Feature {
    pub fn name(&self) -> &str {
        match self {
            Feature::Output => "output",
            Feature::Pickle => "pickle",
            Feature::Unknown(s) => s,
        }
    }

    pub fn parse(s: &str) -> Feature {
        match s {
            "output" => Feature::Output,
            "pickle" => Feature::Pickle,
            other => Feature::Unknown(other.to_owned()),
        }
    }
}

fn features_value(fs: &[Feature]) -> Value {
    Value::List(fs.iter().map(|f| Value::from(f.name())).collect())
}

/// What kind of endpoint answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A server: directory and supervisor of engines.
    Server,
    /// One engine.
    Engine,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Engine => "engine",
        }
    }
}

/// First message of a connection, client to server.
#[derive(Clone, Debug, PartialEq)]
pub struct Hello {
    pub min_version: u64,
    pub max_version: u64,
    /// Client implementation and version, e.g. `"srpy-rust/0.1.0"`.
    pub client: String,
    pub features: Vec<Feature>,
}

impl Hello {
    pub fn new(client: impl Into<String>, features: Vec<Feature>) -> Hello {
        Hello {
            min_version: MIN_VERSION,
            max_version: MAX_VERSION,
            client: client.into(),
            features,
        }
    }

    pub fn to_value(&self) -> Value {
        Value::map([
            ("t", Value::from("hello")),
            (
                "versions",
                Value::List(vec![self.min_version.into(), self.max_version.into()]),
            ),
            ("client", Value::from(self.client.as_str())),
            ("features", features_value(&self.features)),
        ])
    }

    pub fn from_value(v: Value) -> Result<Hello> {
        let f = Fields::new("hello", v)?;
        expect_type(&f, "hello")?;
        let versions = match f.req("versions")? {
            Value::List(items) => match items.as_slice() {
                [Value::Int(a), Value::Int(b)] if *a >= 0 && a <= b => (*a as u64, *b as u64),
                _ => None.ok_or_else(|| {
                    invalid(
                        "hello",
                        "field 'versions' must be [min, max] with 0 <= min <= max",
                    )
                })?,
            },
            other => {
                return Err(invalid(
                    "hello",
                    format!(
                        "field 'versions' must be an array, got {}",
                        other.type_name()
                    ),
                ))
            }
        };
        Ok(Hello {
            min_version: versions.0,
            max_version: versions.1,
            client: f.opt_str("client")?.unwrap_or_default(),
            features: f
                .opt_strs("features")?
                .iter()
                .map(|s| Feature::parse(s))
                .collect(),
        })
    }

    /// The version to speak: the highest both sides support, or `None`.
    pub fn negotiate(&self) -> Option<u64> {
        let hi = self.max_version.min(MAX_VERSION);
        let lo = self.min_version.max(MIN_VERSION);
        (lo <= hi).then_some(hi)
    }

    /// The message for a failed negotiation, naming both ranges.
    pub fn version_mismatch(&self) -> String {
        format!(
            "no common protocol version: client supports {}..={}, this server supports {MIN_VERSION}..={MAX_VERSION}",
            self.min_version, self.max_version
        )
    }

    pub fn has(&self, feature: &Feature) -> bool {
        self.features.contains(feature)
    }
}

/// How the server authenticates clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// No token configured (loopback only).
    None,
    /// HMAC challenge–response over a shared token.
    Token,
}

/// Server's answer to `hello`.
#[derive(Clone, Debug, PartialEq)]
pub struct Challenge {
    pub version: u64,
    pub role: Role,
    pub auth: AuthMethod,
    pub nonce: [u8; NONCE_LEN],
    pub features: Vec<Feature>,
}

impl Challenge {
    pub fn to_value(&self) -> Value {
        Value::map([
            ("t", Value::from("challenge")),
            ("version", self.version.into()),
            ("role", Value::from(self.role.name())),
            (
                "auth",
                Value::from(match self.auth {
                    AuthMethod::None => "none",
                    AuthMethod::Token => "token",
                }),
            ),
            ("nonce", Value::Bytes(self.nonce.into())),
            ("features", features_value(&self.features)),
        ])
    }

    pub fn from_value(v: Value) -> Result<Challenge> {
        let mut f = Fields::new("challenge", v)?;
        expect_type(&f, "challenge")?;
        let role = match f.str("role")?.as_str() {
            "server" => Role::Server,
            "engine" => Role::Engine,
            other => return Err(invalid("challenge", format!("unknown role '{other}'"))),
        };
        let auth = match f.str("auth")?.as_str() {
            "none" => AuthMethod::None,
            "token" => AuthMethod::Token,
            other => {
                return Err(invalid(
                    "challenge",
                    format!("unknown auth method '{other}'"),
                ))
            }
        };
        Ok(Challenge {
            version: f.u64("version")?,
            role,
            auth,
            nonce: nonce(&mut f, "challenge")?,
            features: f
                .opt_strs("features")?
                .iter()
                .map(|s| Feature::parse(s))
                .collect(),
        })
    }
}

fn nonce(f: &mut Fields, context: &'static str) -> Result<[u8; NONCE_LEN]> {
    let b = f.bytes("nonce")?;
    b.as_slice().try_into().map_err(|_| {
        invalid(
            context,
            format!("nonce must be {NONCE_LEN} bytes, got {}", b.len()),
        )
    })
}

/// Client's proof of the token.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthReply {
    pub nonce: [u8; NONCE_LEN],
    /// Empty when the server asked for no authentication.
    pub proof: Vec<u8>,
}

impl AuthReply {
    pub fn to_value(&self) -> Value {
        Value::map([
            ("t", Value::from("auth")),
            ("nonce", Value::Bytes(self.nonce.into())),
            ("proof", Value::Bytes(self.proof.clone().into())),
        ])
    }

    pub fn from_value(v: Value) -> Result<AuthReply> {
        let mut f = Fields::new("auth", v)?;
        expect_type(&f, "auth")?;
        Ok(AuthReply {
            nonce: nonce(&mut f, "auth")?,
            proof: f.bytes("proof")?,
        })
    }
}

/// Last handshake message: authentication succeeded.
#[derive(Clone, Debug, PartialEq)]
pub struct Welcome {
    /// The server's proof of the token (empty without authentication).
    pub proof: Vec<u8>,
    /// Description of the server (with its engine directory) or engine.
    pub info: Value,
}

impl Welcome {
    pub fn to_value(&self) -> Value {
        Value::map([
            ("t", Value::from("welcome")),
            ("proof", Value::Bytes(self.proof.clone().into())),
            ("info", self.info.clone()),
        ])
    }

    pub fn from_value(v: Value) -> Result<Welcome> {
        let mut f = Fields::new("welcome", v)?;
        expect_type(&f, "welcome")?;
        Ok(Welcome {
            proof: f.bytes("proof")?,
            info: f.take("info").unwrap_or(Value::Null),
        })
    }
}

fn expect_type(f: &Fields, t: &str) -> Result<()> {
    match f.opt("t") {
        Some(Value::Str(s)) if s == t => Ok(()),
        Some(Value::Str(s)) => Err(invalid(
            f.context,
            format!("expected message '{t}', got '{s}'"),
        )),
        _ => Err(invalid(f.context, "missing field 't'")),
    }
}

/// The message type (`t` field) of a decoded message, if any.
pub fn message_type(v: &Value) -> Option<&str> {
    v.get("t").and_then(Value::as_str)
}

type HmacSha256 = Hmac<Sha256>;

fn mac(token: &[u8], label: &[u8], a: &[u8], b: &[u8]) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(token).expect("HMAC takes any key length");
    m.update(label);
    m.update(a);
    m.update(b);
    m
}

/// The client's proof: HMAC over the server nonce then the client nonce.
pub fn client_proof(token: &[u8], server_nonce: &[u8], client_nonce: &[u8]) -> Vec<u8> {
    mac(token, b"srpy-v1 client", server_nonce, client_nonce)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// The server's proof: HMAC over the client nonce then the server nonce.
pub fn server_proof(token: &[u8], server_nonce: &[u8], client_nonce: &[u8]) -> Vec<u8> {
    mac(token, b"srpy-v1 server", client_nonce, server_nonce)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Checks the client's proof in constant time.
pub fn verify_client_proof(
    token: &[u8],
    server_nonce: &[u8],
    client_nonce: &[u8],
    proof: &[u8],
) -> bool {
    mac(token, b"srpy-v1 client", server_nonce, client_nonce)
        .verify_slice(proof)
        .is_ok()
}

/// Checks the server's proof in constant time.
pub fn verify_server_proof(
    token: &[u8],
    server_nonce: &[u8],
    client_nonce: &[u8],
    proof: &[u8],
) -> bool {
    mac(token, b"srpy-v1 server", client_nonce, server_nonce)
        .verify_slice(proof)
        .is_ok()
}

/// A fresh random nonce from the operating system.
pub fn new_nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut n).expect("the OS random source is available");
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_highest_common_or_names_both_ranges() {
        let mut h = Hello::new("test", vec![]);
        assert_eq!(h.negotiate(), Some(1));
        h.min_version = 2;
        h.max_version = 5;
        assert_eq!(h.negotiate(), None);
        assert_eq!(
            h.version_mismatch(),
            "no common protocol version: client supports 2..=5, this server supports 1..=1"
        );
    }

    #[test]
    fn hello_round_trips_and_keeps_unknown_features() {
        let h = Hello::new(
            "x/1",
            vec![Feature::Output, Feature::Unknown("zstd".into())],
        );
        assert_eq!(Hello::from_value(h.to_value()).unwrap(), h);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut v = Hello::new("x", vec![]).to_value();
        if let Value::Map(m) = &mut v {
            m.push((Value::from("future"), Value::from(42)));
        }
        assert!(Hello::from_value(v).is_ok());
    }

    #[test]
    fn bad_handshake_messages_are_named() {
        let v = Value::map([("t", Value::from("hello")), ("versions", Value::from(1))]);
        assert_eq!(
            Hello::from_value(v).unwrap_err().to_string(),
            "invalid hello: field 'versions' must be an array, got int"
        );
        let v = Value::map([
            ("t", Value::from("auth")),
            ("nonce", Value::Bytes(vec![1].into())),
        ]);
        assert_eq!(
            AuthReply::from_value(v).unwrap_err().to_string(),
            "invalid auth: nonce must be 32 bytes, got 1"
        );
    }

    #[test]
    fn proofs_bind_token_and_both_nonces() {
        let (s, c) = (new_nonce(), new_nonce());
        let p = client_proof(b"secret", &s, &c);
        assert!(verify_client_proof(b"secret", &s, &c, &p));
        assert!(!verify_client_proof(b"other", &s, &c, &p));
        // A replay against a new server nonce fails.
        assert!(!verify_client_proof(b"secret", &new_nonce(), &c, &p));
        // Client and server proofs differ, so one cannot stand in for the other.
        assert_ne!(p, server_proof(b"secret", &s, &c));
        assert!(verify_server_proof(
            b"secret",
            &s,
            &c,
            &server_proof(b"secret", &s, &c)
        ));
    }
}
