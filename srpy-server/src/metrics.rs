//! `srpy-server --metrics ADDR`: Prometheus text on `/metrics`, and
//! `/healthz`, over HTTP/1.1 (hyper).
//!
//! Nothing is kept here: each scrape reads the engines' [`counters`]
//! pages (shared with the engine processes), the supervisor's slot states
//! (up, pid, restarts) and `/proc/<pid>/stat` (RSS, CPU), and encodes them
//! with `prometheus-client` ([`Collector`]). The series and their labels
//! are listed in `docs/OPERATIONS.md`.
//!
//! With a token configured, every request needs `Authorization: Bearer
//! <credential>`, where the credential is the hex HMAC-SHA256 of
//! `srpy-metrics` under the token ([`credential`]): a read-only proof
//! that is not the token itself, so a scraper that leaks it cannot run code.
//!
//! [`counters`]: crate::counters

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

use crate::counters::{CounterPage, OPS, OUTCOMES, REFUSALS};
use crate::supervisor::{EngineState, Supervisor};

/// What the endpoint reads from.
pub struct MetricsSource {
    pub supervisor: Arc<Supervisor>,
    /// The counters of the server's own port (connections, refusals).
    pub server: Arc<CounterPage>,
}

/// The hex credential that `/metrics` asks for when a token is set.
pub fn credential(token: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token).expect("HMAC takes any key");
    mac.update(b"srpy-metrics");
    hex::encode(mac.finalize().into_bytes())
}

/// What a live engine is doing, for `srpy_engines{state}` and `/healthz`.
fn engine_state(st: &EngineState) -> &'static str {
    match (&st.counters, st.alive) {
        (Some(c), true) if c.pending() > 0 => "busy",
        (_, true) => "idle",
        (_, false) => "starting",
    }
}

/// States in the order they are reported.
const STATES: [&str; 3] = ["idle", "busy", "starting"];

/// Resident memory (bytes) and CPU time (seconds) of a process, from
/// `/proc/<pid>/stat`.
fn process_usage(pid: u32) -> Option<(u64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    let (utime, stime, rss_pages) = (ticks(11)?, ticks(12)?, ticks(21)?);
    // SAFETY: sysconf only reads a system constant.
    let (hz, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if hz <= 0 || page <= 0 {
        return None;
    }
    Some((rss_pages * page as u64, (utime + stime) as f64 / hz as f64))
}

type Labels = Vec<(&'static str, String)>;

/// A metric family being written: its descriptor, then one sample per
/// label set.
fn family<'a>(
    encoder: &'a mut DescriptorEncoder,
    name: &'a str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Labels, Sample)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, sample) in samples {
        let enc = metric.encode_family(&labels)?;
        match sample {
            Sample::Counter(v) => ConstCounter::new(v).encode(enc)?,
            Sample::CounterF(v) => ConstCounter::new(v).encode(enc)?,
            Sample::Gauge(v) => ConstGauge::new(v).encode(enc)?,
            Sample::Histogram(h) => {
                let mut enc = enc;
                enc.encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &h.buckets, None)?
            }
        }
    }
    Ok(())
}

enum Sample {
    Counter(u64),
    CounterF(f64),
    Gauge(i64),
    Histogram(crate::counters::HistogramSnapshot),
}

/// One live engine as a scrape sees it.
struct Live {
    labels: Labels,
    counters: Arc<CounterPage>,
    pid: u32,
}

impl std::fmt::Debug for MetricsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSource").finish_non_exhaustive()
    }
}

impl Collector for MetricsSource {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sup = &self.supervisor;
        let states: Vec<EngineState> = (0..sup.len()).filter_map(|i| sup.state(i)).collect();
        let live: Vec<Live> = states
            .iter()
            .enumerate()
            .filter_map(|(i, st)| {
                let (pid, counters) = (st.pid?, st.counters.clone()?);
                st.alive.then(|| Live {
                    labels: vec![("engine", i.to_string()), ("pid", pid.to_string())],
                    counters,
                    pid,
                })
            })
            .collect();
        // Per live engine: one sample per label set `more` yields.
        let per_engine = |more: &dyn Fn(&Live) -> Vec<(Labels, Sample)>| {
            live.iter()
                .flat_map(|l| {
                    more(l).into_iter().map(|(extra, s)| {
                        let mut labels = l.labels.clone();
                        labels.extend(extra);
                        (labels, s)
                    })
                })
                .collect::<Vec<_>>()
        };
        family(
            &mut e,
            "srpy_engines",
            "Engines by state: idle, busy (a request queued or running), starting (not running: starting or restarting).",
            MetricType::Gauge,
            STATES.iter().map(|s| {
                let n = states.iter().filter(|st| engine_state(st) == *s).count();
                (vec![("state", (*s).to_string())], Sample::Gauge(n as i64))
            }),
        )?;
        family(
            &mut e,
            "srpy_engine_requests",
            "Requests an engine answered, by op and outcome (ok, or the error kind of the reply).",
            MetricType::Counter,
            per_engine(&|l| {
                let mut out = Vec::new();
                for (op, op_name) in OPS.iter().enumerate() {
                    for (oc, oc_name) in OUTCOMES.iter().enumerate() {
                        let n = l.counters.requests(op, oc);
                        if n > 0 {
                            let labels = vec![
                                ("op", op_name.to_string()),
                                ("outcome", oc_name.to_string()),
                            ];
                            out.push((labels, Sample::Counter(n)));
                        }
                    }
                }
                out
            }),
        )?;
        family(
            &mut e,
            "srpy_engine_request_duration_seconds",
            "Time from reading a request to writing its reply (queueing included), by op.",
            MetricType::Histogram,
            per_engine(&|l| {
                (0..OPS.len())
                    .map(|op| (op, l.counters.duration(op)))
                    .filter(|(_, h)| h.count > 0)
                    .map(|(op, h)| (vec![("op", OPS[op].to_string())], Sample::Histogram(h)))
                    .collect()
            }),
        )?;
        family(
            &mut e,
            "srpy_engine_received_bytes",
            "Bytes of request frames an engine read (length prefixes included).",
            MetricType::Counter,
            per_engine(&|l| vec![(vec![], Sample::Counter(l.counters.bytes_in()))]),
        )?;
        family(
            &mut e,
            "srpy_engine_sent_bytes",
            "Bytes of reply and output frames an engine wrote (length prefixes included).",
            MetricType::Counter,
            per_engine(&|l| vec![(vec![], Sample::Counter(l.counters.bytes_out()))]),
        )?;
        family(
            &mut e,
            "srpy_engine_pending_requests",
            "Requests queued or running in an engine's interpreter.",
            MetricType::Gauge,
            per_engine(&|l| vec![(vec![], Sample::Gauge(l.counters.pending() as i64))]),
        )?;
        family(
            &mut e,
            "srpy_engine_connections_open",
            "Authenticated client connections an engine has open.",
            MetricType::Gauge,
            per_engine(&|l| vec![(vec![], Sample::Gauge(l.counters.connections_open() as i64))]),
        )?;
        family(
            &mut e,
            "srpy_engine_handshakes_refused",
            "Connections an engine refused, by reason.",
            MetricType::Counter,
            per_engine(&|l| refusals(&l.counters)),
        )?;
        let usage: Vec<(Labels, (u64, f64))> = live
            .iter()
            .filter_map(|l| Some((l.labels.clone(), process_usage(l.pid)?)))
            .collect();
        family(
            &mut e,
            "srpy_engine_resident_memory_bytes",
            "Resident memory of an engine process.",
            MetricType::Gauge,
            usage
                .iter()
                .map(|(l, (rss, _))| (l.clone(), Sample::Gauge(*rss as i64))),
        )?;
        family(
            &mut e,
            "srpy_engine_cpu_seconds",
            "CPU time (user and system) an engine process used.",
            MetricType::Counter,
            usage
                .iter()
                .map(|(l, (_, cpu))| (l.clone(), Sample::CounterF(*cpu))),
        )?;
        family(
            &mut e,
            "srpy_engine_restarts",
            "Times an engine slot's process was replaced (died, or restarted on request).",
            MetricType::Counter,
            states.iter().enumerate().map(|(i, st)| {
                (
                    vec![("engine", i.to_string())],
                    Sample::Counter(st.generation.saturating_sub(1)),
                )
            }),
        )?;
        family(
            &mut e,
            "srpy_server_connections_open",
            "Authenticated client connections the server's own port has open.",
            MetricType::Gauge,
            [(vec![], Sample::Gauge(self.server.connections_open() as i64))],
        )?;
        family(
            &mut e,
            "srpy_server_handshakes_refused",
            "Connections the server's own port refused, by reason.",
            MetricType::Counter,
            refusals(&self.server),
        )
    }
}

fn refusals(counters: &CounterPage) -> Vec<(Labels, Sample)> {
    REFUSALS
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                vec![("reason", r.to_string())],
                Sample::Counter(counters.refusals(i)),
            )
        })
        .collect()
}

/// `/healthz`: 200 and `"status": "ok"` when every engine is running,
/// 503 and `"degraded"` otherwise; the engines as in the directory.
fn health(sup: &Supervisor) -> (StatusCode, String) {
    let engines: Vec<serde_json::Value> = (0..sup.len())
        .filter_map(|i| sup.state(i))
        .enumerate()
        .map(|(i, st)| {
            serde_json::json!({
                "index": i,
                "pid": st.pid,
                "port": st.port,
                "state": engine_state(&st),
                "restarts": st.generation.saturating_sub(1),
            })
        })
        .collect();
    let ok = engines.iter().all(|e| e["state"] != "starting");
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "degraded" },
        "version": srpy_proto::SRPY_VERSION,
        "engines": engines,
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body.to_string() + "\n")
}

struct Endpoint {
    registry: Registry,
    supervisor: Arc<Supervisor>,
    /// `Bearer <credential>` when a token is set.
    expected_auth: Option<String>,
}

fn respond(code: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

impl Endpoint {
    fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        const TEXT: &str = "text/plain; charset=utf-8";
        if let Some(expected) = &self.expected_auth {
            let given = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
            if !given.is_some_and(|g| constant_time_eq(g, expected.as_bytes())) {
                let mut r = respond(
                    StatusCode::UNAUTHORIZED,
                    TEXT,
                    "this server has a token: send Authorization: Bearer <metrics credential> (docs/OPERATIONS.md)\n".into(),
                );
                r.headers_mut()
                    .insert("www-authenticate", HeaderValue::from_static("Bearer"));
                return r;
            }
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET\n".into());
        }
        match req.uri().path() {
            "/metrics" => {
                let mut text = String::new();
                match prometheus_client::encoding::prometheus_text::encode(
                    &mut text,
                    &self.registry,
                ) {
                    Ok(()) => respond(
                        StatusCode::OK,
                        "text/plain; version=0.0.4; charset=utf-8",
                        text,
                    ),
                    Err(_) => respond(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        TEXT,
                        "encoding failed\n".into(),
                    ),
                }
            }
            "/healthz" => {
                let (code, body) = health(&self.supervisor);
                respond(code, "application/json", body)
            }
            _ => respond(
                StatusCode::NOT_FOUND,
                TEXT,
                "try /metrics or /healthz\n".into(),
            ),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    source: MetricsSource,
    token: Option<&[u8]>,
    mut shutdown: broadcast::Receiver<()>,
) {
    let supervisor = source.supervisor.clone();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(source));
    let endpoint = Arc::new(Endpoint {
        registry,
        supervisor,
        expected_auth: token.map(|t| format!("Bearer {}", credential(t))),
    });
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.recv() => return,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let r = endpoint.answer(&req);
                async move { Ok::<_, Infallible>(r) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            // A scraper that stalls is dropped rather than kept forever.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), conn).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_is_an_hmac_of_the_token() {
        // printf srpy-metrics | openssl dgst -sha256 -hmac secret
        assert_eq!(
            credential(b"secret"),
            "e9f51b74b31aa0eb77e37ea3a3787df04b7ea7346f2c14af8be641f8f139d53a"
        );
        assert_ne!(credential(b"secret"), credential(b"other"));
        assert_eq!(credential(b"x").len(), 64);
    }

    #[test]
    fn proc_stat_is_read_for_this_process() {
        let (rss, cpu) = process_usage(std::process::id()).expect("own /proc stat");
        assert!(rss > 1 << 20, "rss {rss}");
        assert!(cpu >= 0.0);
    }
}
