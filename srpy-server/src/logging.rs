//! Logs, through `tracing`: the server's subscriber, the engines' one, and
//! the bridge between them.
//!
//! The server writes its log to stderr, human-readable by default or one
//! JSON object per line (`--log-format json`); `--debug` lowers the level
//! to `debug` (every request), `--time` logs each request's completion
//! with its duration (`ms`) at `info`. An engine is a process of its own:
//! it always writes JSON lines to its stderr ([`init_engine`]), and the
//! supervisor, which reads that pipe, re-emits each event in the server's
//! own subscriber with the engine's `engine` index and `pid` added
//! ([`forward_engine_line`]). So both kinds of lines come out in one
//! format; anything else an engine prints (a Python traceback, a print to
//! `sys.stderr`) becomes an `info` event with the line as its message.

use tracing::Level;

/// The fields an engine's events carry, as written by its JSON subscriber.
#[cfg(feature = "cli")]
#[derive(serde::Deserialize)]
struct EngineEvent {
    level: String,
    #[serde(default)]
    message: String,
    op: Option<String>,
    id: Option<u64>,
    outcome: Option<String>,
    ms: Option<f64>,
    peer: Option<String>,
    error: Option<String>,
}

/// Log line formats of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line: `timestamp`, `level`, `message`, `target`
    /// and the event's fields.
    Json,
}

fn level(debug: bool) -> Level {
    if debug {
        Level::DEBUG
    } else {
        Level::INFO
    }
}

/// Installs the server's subscriber (stderr, `format`, `debug` or `info`).
pub fn init_server(format: LogFormat, debug: bool) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level(debug));
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Installs an engine's subscriber: JSON lines on stderr, for the
/// supervisor to re-emit. Does nothing if the process has one already.
pub fn init_engine(debug: bool) {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level(debug))
        .json()
        .flatten_event(true)
        .try_init();
}

/// Re-emits one line of an engine's stderr (or stdout, `stream`) in the
/// server's log.
#[cfg(feature = "cli")]
pub fn forward_engine_line(engine: usize, pid: Option<u32>, stream: &'static str, line: &str) {
    let event = line
        .starts_with('{')
        .then(|| serde_json::from_str::<EngineEvent>(line).ok())
        .flatten();
    let Some(ev) = event else {
        tracing::info!(target: "srpy_server::engine", engine, pid, stream, "{line}");
        return;
    };
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                target: "srpy_server::engine",
                $level,
                engine,
                pid,
                op = ev.op.as_deref(),
                id = ev.id,
                outcome = ev.outcome.as_deref(),
                ms = ev.ms,
                peer = ev.peer.as_deref(),
                error = ev.error.as_deref(),
                "{}",
                ev.message
            )
        };
    }
    match ev.level.as_str() {
        "ERROR" => emit!(Level::ERROR),
        "WARN" => emit!(Level::WARN),
        "INFO" => emit!(Level::INFO),
        "DEBUG" => emit!(Level::DEBUG),
        _ => emit!(Level::TRACE),
    }
}
