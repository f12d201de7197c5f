//! SRPy addresses.
//!
//! ```text
//! srpy://host:port           a server (its engine directory)
//! srpy://host:port/<index>   engine number <index> of that server
//! srpys://host:port[/<index>] the same over TLS
//! host:port                  the same without the scheme
//! srpy://[::1]:port/0        IPv6 literals in brackets
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The scheme of SRPy URIs.
pub const SCHEME: &str = "srpy";
/// The scheme of SRPy URIs over TLS.
pub const TLS_SCHEME: &str = "srpys";

/// A parsed SRPy address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uri {
    /// Host name or IP literal, without brackets.
    pub host: String,
    pub port: u16,
    /// The engine index for `srpy://host:port/<index>`.
    pub index: Option<u64>,
    /// `srpys://`: connect with TLS.
    pub tls: bool,
}

impl Uri {
    /// Parses `srpy[s]://host:port[/index]` or `host:port[/index]`.
    pub fn parse(s: &str) -> Result<Uri> {
        let bad = |why: &str| Error::InvalidUri(format!("{s:?}: {why}"));
        let t = s.trim();
        let (tls, rest) = match t.find("://") {
            Some(i) => {
                let scheme = &t[..i];
                let tls = scheme.eq_ignore_ascii_case(TLS_SCHEME);
                if !tls && !scheme.eq_ignore_ascii_case(SCHEME) {
                    return Err(bad(&format!(
                        "unknown scheme '{scheme}', expected '{SCHEME}://' or '{TLS_SCHEME}://'"
                    )));
                }
                (tls, &t[i + 3..])
            }
            None => (false, t),
        };
        if rest.contains(['?', '#']) {
            return Err(bad("queries and fragments are not allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("user information is not allowed"));
        }
        let (host, port) = if let Some(after) = authority.strip_prefix('[') {
            let end = after
                .find(']')
                .ok_or_else(|| bad("unterminated '[' in IPv6 address"))?;
            let host = &after[..end];
            let port = after[end + 1..]
                .strip_prefix(':')
                .ok_or_else(|| bad("missing ':port' after the IPv6 address"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad(&format!("'{host}' is not an IPv6 address")));
            }
            (host, port)
        } else {
            let i = authority.rfind(':').ok_or_else(|| bad("missing ':port'"))?;
            let host = &authority[..i];
            if host.contains(':') {
                return Err(bad(
                    "IPv6 addresses must be written in brackets, e.g. [::1]:port",
                ));
            }
            (host, &authority[i + 1..])
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        if host.chars().any(|c| c.is_whitespace()) {
            return Err(bad("the host contains whitespace"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|_| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad(&format!("'{port}' is not a port number")))?;
        let index = match path.strip_prefix('/') {
            None => None,
            Some(p) => {
                let p = p.strip_suffix('/').unwrap_or(p);
                if p.is_empty() {
                    None
                } else if p.bytes().all(|b| b.is_ascii_digit()) {
                    Some(
                        p.parse::<u64>()
                            .map_err(|_| bad(&format!("engine index '{p}' is too large")))?,
                    )
                } else {
                    return Err(bad(&format!(
                        "the path must be an engine index (a number), got '/{p}'"
                    )));
                }
            }
        };
        Ok(Uri {
            host: host.to_owned(),
            port,
            index,
            tls,
        })
    }

    /// The server this address belongs to (the index dropped).
    pub fn server(&self) -> Uri {
        Uri {
            index: None,
            ..self.clone()
        }
    }

    /// Engine `index` of the server at this address.
    pub fn engine(&self, index: u64) -> Uri {
        Uri {
            index: Some(index),
            ..self.clone()
        }
    }

    /// `host:port`, with brackets around an IPv6 literal.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

/// `host:port`, with brackets around an IPv6 literal.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { TLS_SCHEME } else { SCHEME };
        write!(f, "{scheme}://{}", self.authority())?;
        if let Some(i) = self.index {
            write!(f, "/{i}")?;
        }
        Ok(())
    }
}

impl FromStr for Uri {
    type Err = Error;
    fn from_str(s: &str) -> Result<Uri> {
        Uri::parse(s)
    }
}

/// Anything that names an SRPy address: `&str`, `String`, [`Uri`].
pub trait IntoUri {
    fn into_uri(self) -> Result<Uri>;
}

impl IntoUri for Uri {
    fn into_uri(self) -> Result<Uri> {
        Ok(self)
    }
}
impl IntoUri for &Uri {
    fn into_uri(self) -> Result<Uri> {
        Ok(self.clone())
    }
}
impl IntoUri for &str {
    fn into_uri(self) -> Result<Uri> {
        Uri::parse(self)
    }
}
impl IntoUri for String {
    fn into_uri(self) -> Result<Uri> {
        Uri::parse(&self)
    }
}
impl IntoUri for &String {
    fn into_uri(self) -> Result<Uri> {
        Uri::parse(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Uri {
        Uri::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        match Uri::parse(s) {
            Err(Error::InvalidUri(m)) => m,
            other => panic!("{s}: expected InvalidUri, got {other:?}"),
        }
    }

    #[test]
    fn server_and_engine_uris() {
        assert_eq!(
            ok("srpy://example.org:7000"),
            Uri {
                host: "example.org".into(),
                port: 7000,
                index: None,
                tls: false,
            }
        );
        let t = ok("srpys://h:1/2");
        assert!(t.tls && !ok("srpy://h:1").tls && ok("SRPYS://h:1").tls);
        assert_eq!(t.to_string(), "srpys://h:1/2");
        assert_eq!(t.server().to_string(), "srpys://h:1");
        let e = ok("srpy://127.0.0.1:7000/3");
        assert_eq!(
            (e.host.as_str(), e.port, e.index),
            ("127.0.0.1", 7000, Some(3))
        );
        assert_eq!(ok("srpy://h:1/").index, None);
        assert_eq!(ok("srpy://h:1/12/").index, Some(12));
        assert_eq!(ok("SRPY://h:1").host, "h");
        assert_eq!(ok("  srpy://h:1  ").port, 1);
    }

    #[test]
    fn bare_host_port() {
        let u = ok("localhost:65535");
        assert_eq!(
            (u.host.as_str(), u.port, u.index),
            ("localhost", 65535, None)
        );
        assert_eq!(ok("localhost:5/0").index, Some(0));
    }

    #[test]
    fn ipv6_in_brackets() {
        let u = ok("srpy://[::1]:9000/1");
        assert_eq!((u.host.as_str(), u.port, u.index), ("::1", 9000, Some(1)));
        assert_eq!(u.to_string(), "srpy://[::1]:9000/1");
        assert_eq!(ok("[fe80::1]:1").host, "fe80::1");
        assert!(err("::1:9000").contains("brackets"));
        assert!(err("[::1:9000").contains("unterminated"));
        assert!(err("[::1]9000").contains("missing ':port'"));
        assert!(err("[nothost]:1").contains("not an IPv6"));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "srpy://a:1",
            "srpy://a.b.c:65535/0",
            "srpy://[::1]:2",
            "srpy://10.0.0.1:3/17",
        ] {
            assert_eq!(ok(s).to_string(), s);
            assert_eq!(ok(&ok(s).to_string()), ok(s));
        }
        assert_eq!(ok("a:1").to_string(), "srpy://a:1");
    }

    #[test]
    fn server_and_engine_helpers() {
        let u = ok("srpy://h:5/2");
        assert_eq!(u.server().to_string(), "srpy://h:5");
        assert_eq!(u.server().engine(7).to_string(), "srpy://h:5/7");
        assert_eq!(u.authority(), "h:5");
        assert_eq!(ok("[::1]:5").authority(), "[::1]:5");
    }

    #[test]
    fn bad_uris_say_why() {
        assert!(err("http://h:1").contains("unknown scheme 'http'"));
        assert!(err("srpyx://h:1").contains("'srpys://'"));
        assert!(err("srpy://h").contains("missing ':port'"));
        assert!(err("srpy://:1").contains("missing host"));
        assert!(err("srpy://h:").contains("not a port number"));
        assert!(err("srpy://h:70000").contains("not a port number"));
        assert!(err("srpy://h:+1").contains("not a port number"));
        assert!(err("srpy://h:1/x").contains("engine index"));
        assert!(err("srpy://h:1/-1").contains("engine index"));
        assert!(err("srpy://h:1/1/2").contains("engine index"));
        assert!(err("srpy://h:1/99999999999999999999").contains("too large"));
        assert!(err("srpy://u@h:1").contains("user information"));
        assert!(err("srpy://h:1?x=1").contains("queries"));
        assert!(err("").contains("missing"));
    }

    #[test]
    fn from_str_and_into_uri() {
        let u: Uri = "h:1".parse().unwrap();
        assert_eq!(u.port, 1);
        assert_eq!("h:2".into_uri().unwrap().port, 2);
        assert_eq!(String::from("h:3").into_uri().unwrap().port, 3);
        assert_eq!((&u).into_uri().unwrap(), u);
    }
}
