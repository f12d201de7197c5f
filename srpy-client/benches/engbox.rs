//! `EngBox::map` from Rust against a private `srpy-server` with 2 engines:
//! a CPU-bound map on 1 and on 2 engines (the speedup), and the per-item
//! cost of a tiny map (`x + 1` over 10,000 items) with automatic chunks and
//! unchunked. Prints a Markdown table.
//!
//! `cargo bench -p srpy-client --bench engbox` (skips with a message when
//! `srpy-server` or an engine-capable Python is missing; engines run
//! `SRPY_PYTHON`). Knob: `SRPY_BENCH_REPEAT` (default 5; best of N: other
//! load on the machine only adds time).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use srpy_client::engbox::auto_chunksize;
use srpy_client::{
    find_server_bin, EngBox, LocalServer, LocalServerOptions, MapOptions, MapTask, Value,
};

const PRIMES: &str = "\
def sum_primes(n):
    total = 0
    for k in range(2, n):
        d = 2
        prime = True
        while d * d <= k:
            if k % d == 0:
                prime = False
                break
            d += 1
        if prime:
            total += k
    return total
";

fn server_bin() -> Option<PathBuf> {
    find_server_bin(None).or_else(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        ["release", "debug"]
            .iter()
            .map(|p| root.join("target").join(p).join("srpy-server"))
            .find(|p| p.is_file())
    })
}

async fn best_of<F, Fut>(repeat: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await; // warm-up
    let mut best = Duration::MAX;
    for _ in 0..repeat {
        let t = Instant::now();
        f().await;
        best = best.min(t.elapsed());
    }
    best
}

async fn map_ok(b: &EngBox, task: &MapTask, items: &[Value], opts: MapOptions) {
    let out = b.map(task.clone(), items.to_vec(), opts).await.unwrap();
    assert!(out.results.iter().all(|r| r.is_ok()), "{:?}", out.report);
    if std::env::var_os("SRPY_BENCH_DEBUG").is_some() {
        eprintln!("{:?}", out.report);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(bin) = server_bin() else {
        eprintln!("SKIP: no srpy-server binary (build it, or set SRPY_SERVER_BIN)");
        return;
    };
    let repeat: usize = std::env::var("SRPY_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let srv = match LocalServer::start(LocalServerOptions {
        server_bin: Some(bin),
        ..LocalServerOptions::engines(2)
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("SKIP: cannot start srpy-server with engines: {e}");
            return;
        }
    };
    let two = EngBox::connect(srv.uri(), srv.connect_options())
        .await
        .unwrap();
    let one = two.select(&[0]);
    two.exec_all(PRIMES).await;

    let cpu_task = MapTask::call("sum_primes");
    let cpu_items: Vec<Value> = vec![Value::from(30_000); 16];
    // Interleaved rounds, so that a burst of other load hits both alike.
    let (mut cpu1, mut cpu2) = (Duration::MAX, Duration::MAX);
    map_ok(&two, &cpu_task, &cpu_items, MapOptions::default()).await;
    for _ in 0..repeat * 3 {
        for (b, best) in [(&one, &mut cpu1), (&two, &mut cpu2)] {
            let t = Instant::now();
            map_ok(b, &cpu_task, &cpu_items, MapOptions::default()).await;
            *best = (*best).min(t.elapsed());
        }
    }

    let tiny_task = MapTask::expr("x + 1");
    let tiny: Vec<Value> = (0..10_000).map(Value::from).collect();
    let auto = best_of(repeat * 3, || {
        map_ok(&two, &tiny_task, &tiny, MapOptions::default())
    })
    .await;
    let unchunked = best_of(repeat, || {
        map_ok(&two, &tiny_task, &tiny, MapOptions::default().chunksize(1))
    })
    .await;
    let unchunked_p2 = best_of(repeat, || {
        map_ok(
            &two,
            &tiny_task,
            &tiny,
            MapOptions::default().chunksize(1).pipeline(2),
        )
    })
    .await;

    let us = |d: Duration| d.as_secs_f64() * 1e6 / tiny.len() as f64;
    println!(
        "# EngBox::map from Rust (2 engines, best of {repeat}; CPU: best of {} interleaved rounds)\n",
        repeat * 3
    );
    println!("| workload | result |");
    println!("|---|---|");
    println!("| CPU: sum of primes < 30,000, 16 items, 1 engine | {cpu1:.3?} |");
    println!("| CPU: the same, 2 engines | {cpu2:.3?} |");
    println!(
        "| CPU speedup, 2 vs 1 engine | **{:.2}×** |",
        cpu1.as_secs_f64() / cpu2.as_secs_f64()
    );
    println!(
        "| tiny `x + 1`, 10,000 items, automatic chunks ({} items), per item | **{:.2} µs** |",
        auto_chunksize(tiny.len(), 2),
        us(auto)
    );
    println!(
        "| tiny `x + 1`, unchunked (chunksize 1), per item | {:.2} µs |",
        us(unchunked)
    );
    println!(
        "| tiny `x + 1`, unchunked, fixed 2 chunks in flight per engine, per item | {:.2} µs |",
        us(unchunked_p2)
    );
    srv.stop().await.unwrap();
}
