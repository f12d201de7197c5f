//! Addresses of boxes: URI lists, and server URIs expanded to their
//! engines.

use tokio::task::JoinSet;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::options::ConnectOptions;
use crate::server::ServerClient;
use crate::uri::{IntoUri, Uri};

/// The URIs of a text: one per line; blank lines and `#` comments (whole
/// lines, or after the URI) are skipped.
pub fn parse_uri_list(text: &str) -> Result<Vec<Uri>> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(Uri::parse)
        .collect()
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
    connect_all(uris, opts).await
}

pub(super) async fn connect_all(uris: Vec<Uri>, opts: &ConnectOptions) -> Result<Vec<Engine>> {
    let mut set = JoinSet::new();
    for (i, u) in uris.into_iter().enumerate() {
        let o = opts.clone();
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
