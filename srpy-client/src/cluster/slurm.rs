//! Slurm: one `srpy-server` per node, started by one `srun` whose stdin
//! carries the token to every task (`--input=all`) and stays open while
//! the cluster lives; the servers print their addresses to `srun`'s stdout
//! (`--label`). Inside an allocation (`SLURM_JOB_ID` set) `srun` runs in
//! it; outside, `sbatch --parsable` first submits a job that only holds the
//! allocation (progress on stderr while it is queued), `srun --jobid` runs
//! in it, and [`Cluster::stop`] ends it with `scancel`.
//!
//! No orphans: closing `srun`'s stdin (stop, or the death of this
//! process) stops every server; `scancel` stops them too (SIGTERM).

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{
    await_serving, open_channel, server_script, Channel, Cluster, ClusterServer, HostFailure,
    LaunchError, Serving,
};
use crate::local::random_token;

/// How to start a Slurm cluster.
#[derive(Clone, Debug)]
pub struct SlurmOptions {
    /// Nodes (one server each). Default: inside an allocation all of its
    /// nodes (`SLURM_JOB_NUM_NODES`), outside 1.
    pub nodes: Option<usize>,
    /// Engines per node: a number or `auto`.
    pub engines_per_node: String,
    /// `sbatch --time` (outside an allocation).
    pub time: Option<String>,
    /// `sbatch --partition` (outside an allocation).
    pub partition: Option<String>,
    /// More `sbatch` options.
    pub sbatch_args: Vec<String>,
    /// The command that runs `srpy-server` on the nodes. Default
    /// `python3 -m srpy.server`.
    pub server_command: String,
    /// The address the servers listen on. Default: each node's
    /// `hostname -i` (its first address).
    pub listen_host: Option<String>,
    /// More `srpy-server` options.
    pub server_args: Vec<String>,
    /// How long the servers may take once the job runs. Default 60 s.
    pub start_timeout: Duration,
    /// How long the job may wait in the queue. Default: no limit.
    pub queue_timeout: Option<Duration>,
    /// Write a progress line to stderr while the job is queued.
    pub progress: bool,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        SlurmOptions {
            nodes: None,
            engines_per_node: "auto".into(),
            time: None,
            partition: None,
            sbatch_args: Vec::new(),
            server_command: "python3 -m srpy.server".into(),
            listen_host: None,
            server_args: Vec::new(),
            start_timeout: Duration::from_secs(60),
            queue_timeout: None,
            progress: true,
        }
    }
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `scancel JOB`, ignoring failure (the job may be gone already).
pub(super) fn cancel(job: &str) {
    let _ = Command::new("scancel").arg(job).output();
}

/// Submits the job that holds the allocation; answers its id.
fn submit(opts: &SlurmOptions, nodes: usize) -> Result<String, String> {
    let mut cmd = Command::new("sbatch");
    cmd.args(["--parsable", "--job-name=srpy", "--output=/dev/null"])
        .arg(format!("--nodes={nodes}"))
        .arg("--ntasks-per-node=1");
    if let Some(t) = &opts.time {
        cmd.arg(format!("--time={t}"));
    }
    if let Some(p) = &opts.partition {
        cmd.arg(format!("--partition={p}"));
    }
    // The job only holds the allocation until scancel or its time limit.
    cmd.args(&opts.sbatch_args)
        .args(["--wrap", "exec sleep 2147483647"]);
    let out = run(&mut cmd)?;
    // `--parsable`: `ID` or `ID;CLUSTER`.
    let id = out.split(';').next().unwrap_or_default().trim().to_owned();
    if id.is_empty() {
        return Err(format!("sbatch --parsable printed no job id: {out:?}"));
    }
    Ok(id)
}

/// Waits until the job runs, with a progress line while it is queued.
fn await_running(job: &str, opts: &SlurmOptions) -> Result<(), String> {
    let start = Instant::now();
    let mut shown = false;
    let result = loop {
        let state = run(Command::new("squeue").args(["-h", "-j", job, "-o", "%T %r"]))?;
        let (status, reason) = state.split_once(' ').unwrap_or((state.as_str(), ""));
        match status {
            "RUNNING" => break Ok(()),
            "PENDING" | "CONFIGURING" => {}
            "" => break Err(format!("slurm job {job} ended before it ran")),
            other => break Err(format!("slurm job {job} is {other} ({reason})")),
        }
        if let Some(limit) = opts.queue_timeout {
            if start.elapsed() > limit {
                break Err(format!(
                    "slurm job {job} still {status} after {:.0} s ({reason})",
                    limit.as_secs_f64()
                ));
            }
        }
        if opts.progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\rsrpy: slurm job {job} {} ({reason}), {:.0} s ",
                status.to_lowercase(),
                start.elapsed().as_secs_f64()
            );
            let _ = err.flush();
            shown = true;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if shown {
        eprintln!();
    }
    result
}

/// The `srun` that starts one server per node (in `job` when given).
fn srun_command(opts: &SlurmOptions, nodes: usize, job: Option<&str>) -> Command {
    let script = server_script(
        &opts.server_command,
        &opts.engines_per_node,
        "set -- $(hostname -i); a=$1",
        opts.listen_host.as_deref(),
        &opts.server_args,
    );
    let mut cmd = Command::new("srun");
    if let Some(job) = job {
        cmd.arg(format!("--jobid={job}"));
    }
    cmd.args(["--input=all", "--label", "--overlap", "--ntasks-per-node=1"])
        .arg(format!("--nodes={nodes}"))
        .arg(format!("--ntasks={nodes}"))
        .args(["sh", "-c", &script]);
    cmd
}

fn failure(reason: String) -> HostFailure {
    HostFailure {
        host: "slurm".into(),
        reason,
    }
}

impl Cluster {
    /// Starts one server per node with Slurm and waits until all are
    /// ready: in the current allocation when there is one, else in a job
    /// submitted with `sbatch`. All the servers share one fresh token.
    pub fn slurm(opts: SlurmOptions) -> Result<Cluster, LaunchError> {
        let inside = std::env::var("SLURM_JOB_ID").ok().filter(|j| !j.is_empty());
        let nodes = opts.nodes.unwrap_or_else(|| {
            let all = std::env::var("SLURM_JOB_NUM_NODES").ok();
            all.and_then(|n| n.parse().ok())
                .filter(|_| inside.is_some())
                .unwrap_or(1)
        });
        let mut cluster = Cluster::empty();
        let fail = |cluster: &mut Cluster, reason: String| {
            cluster.stop();
            LaunchError {
                failures: vec![failure(reason)],
                started: 0,
                needed: nodes,
            }
        };
        // Inside an allocation, srun runs in it (from the environment).
        let job = match inside {
            Some(_) => None,
            None => match submit(&opts, nodes) {
                Ok(job) => Some(job),
                Err(reason) => return Err(fail(&mut cluster, reason)),
            },
        };
        cluster.job = job.clone();
        if let Some(job) = &job {
            if let Err(reason) = await_running(job, &opts) {
                return Err(fail(&mut cluster, reason));
            }
        }
        let token = random_token();
        let channel = match open_channel(srun_command(&opts, nodes, job.as_deref()), "srun", &token)
        {
            Ok(channel) => std::sync::Arc::new(channel),
            Err(e) => return Err(fail(&mut cluster, format!("cannot run srun: {e}"))),
        };
        let deadline = Instant::now() + opts.start_timeout;
        match await_serving(&channel, nodes, &opts.server_command, deadline) {
            Ok(served) => {
                for Serving {
                    version,
                    uri,
                    tls_pin,
                } in served
                {
                    cluster.servers.push(ClusterServer {
                        host: uri.host.clone(),
                        uri,
                        version,
                        tls_pin,
                        token: token.clone(),
                        channel: channel.clone(),
                    });
                }
                Ok(cluster)
            }
            Err(reason) => {
                Channel::stop(&channel, Duration::from_secs(5));
                Err(fail(&mut cluster, reason))
            }
        }
    }

    /// The Slurm job this cluster submitted (None inside an allocation and
    /// for ssh clusters).
    pub fn slurm_job(&self) -> Option<&str> {
        self.job.as_deref()
    }
}
