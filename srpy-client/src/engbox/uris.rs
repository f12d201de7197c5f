//! Addresses of boxes: URI lists, and server URIs expanded to their
//! engines.
//!
//! # URI lists
//!
//! The one parser of the URI-list format ([`parse_uri_list`]), which
//! every binding's `start_and_append_from_text`/`from_file` reads
//! (docs/CLUSTER.md, "URI files"): one entry per line, a URI optionally
//! followed by the server's TLS pin, `srpys://h:p tls-pin sha256:FP`;
//! blank lines and `#` comments skipped; a line `tls-pin sha256:FP` of its
//! own (the last line `srpy-server --uri-file` writes) pins every URI of
//! the text that has no pin of its own.

use tokio::task::JoinSet;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::options::ConnectOptions;
use crate::server::ServerClient;
use crate::uri::{IntoUri, Uri};

/// The field that gives a server's pin, on a line of a URI list.
const PIN_FIELD: &str = "tls-pin";

/// One entry of a URI list: an address, and the TLS pin of its server
/// when the list gives one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriListEntry {
    pub uri: Uri,
    /// The pinned SHA-256 fingerprint (canonical form), if any.
    pub tls_pin: Option<String>,
}

impl UriListEntry {
    /// `base` with this entry's pin, if it has one (a pin of the list is
    /// the server's own, so it wins over a pin of the caller).
    pub fn connect_options(&self, base: &ConnectOptions) -> ConnectOptions {
        ConnectOptions {
            tls_pin: self.tls_pin.clone().or_else(|| base.tls_pin.clone()),
            ..base.clone()
        }
    }
}

/// The pin of `tls-pin PIN`'s PIN, checked; `line` names it in errors.
fn parse_pin_field(fields: &[&str], line: usize) -> Result<String> {
    let bad = |why: String| Error::InvalidUri(format!("line {line} of the URI list: {why}"));
    match fields {
        [PIN_FIELD, pin] => srpy_proto::tls::parse_pin(pin).map_err(bad),
        _ => Err(bad(format!(
            "expected `URI` or `URI {PIN_FIELD} sha256:FINGERPRINT`, got `{}`",
            fields.join(" ")
        ))),
    }
}

/// The entries of a URI list (see the module docs): one per line, a URI
/// and optionally `tls-pin sha256:FINGERPRINT`; blank lines and `#`
/// comments (whole lines, or after the entry) are skipped; a `tls-pin`
/// line of its own pins the URIs without a pin of their own (at most one
/// such line).
pub fn parse_uri_list(text: &str) -> Result<Vec<UriListEntry>> {
    let mut entries = Vec::new();
    let mut text_pin: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        match fields.as_slice() {
            [] => {}
            [PIN_FIELD, ..] => {
                let pin = parse_pin_field(&fields, n + 1)?;
                if text_pin.replace(pin).is_some() {
                    return Err(Error::InvalidUri(format!(
                        "line {} of the URI list: a second `{PIN_FIELD}` line of its own \
                         (give each server's pin after its URI)",
                        n + 1
                    )));
                }
            }
            [uri, rest @ ..] => entries.push(UriListEntry {
                uri: Uri::parse(uri)?,
                tls_pin: match rest {
                    [] => None,
                    _ => Some(parse_pin_field(rest, n + 1)?),
                },
            }),
        }
    }
    for e in &mut entries {
        if e.tls_pin.is_none() {
            e.tls_pin.clone_from(&text_pin);
        }
    }
    Ok(entries)
}

/// The engine URIs an address stands for: itself for an engine URI
/// (`srpy://h:p/<i>`), every engine of the directory for a server URI
/// (`srpy://h:p`), in index order.
pub async fn expand_uri(uri: impl IntoUri, opts: &ConnectOptions) -> Result<Vec<Uri>> {
    let uri = uri.into_uri()?;
    if uri.index.is_some() {
        return Ok(vec![uri]);
    }
    let server = ServerClient::connect(&uri, opts.clone()).await?;
    let engines = server.engines().await;
    server.close();
    let mut indices: Vec<u64> = engines?.iter().map(|e| e.index).collect();
    indices.sort_unstable();
    Ok(indices.into_iter().map(|i| uri.engine(i)).collect())
}

/// Connects to every engine an address stands for (see [`expand_uri`]).
pub async fn connect_uri(uri: impl IntoUri, opts: &ConnectOptions) -> Result<Vec<Engine>> {
    let uris = expand_uri(uri, opts).await?;
    connect_all(uris.into_iter().map(|u| (u, opts.clone())).collect()).await
}

/// Connects to every engine URI, each with its options, all at once;
/// answers them in the order given.
pub(super) async fn connect_all(uris: Vec<(Uri, ConnectOptions)>) -> Result<Vec<Engine>> {
    let mut set = JoinSet::new();
    for (i, (u, o)) in uris.into_iter().enumerate() {
        set.spawn(async move { (i, Engine::connect(u, o).await) });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        let (i, e) = r.map_err(|e| Error::Other(format!("connect task failed: {e}")))?;
        out.push((i, e?));
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, e)| e).collect())
}
