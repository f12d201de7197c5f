//! `RawCluster`: [`srpy_client::Cluster`] for `srpy.Cluster` (`srpy._cluster`),
//! which builds the box and says what failed.

use std::ffi::OsString;
use std::sync::Mutex;

use pyo3::prelude::*;

use crate::errors::barrier;
use srpy_client::cluster::{Cluster, HostFailure, LaunchError, SlurmOptions, SshOptions};

/// `srpy._cluster.ClusterError(message, failures)`.
fn launch_error(py: Python<'_>, e: LaunchError) -> PyErr {
    let raised = py
        .import("srpy._cluster")
        .and_then(|m| m.getattr("ClusterError"))
        .and_then(|class| class.call1((e.to_string(), pairs(&e.failures))));
    match raised {
        Ok(err) => PyErr::from_value(err),
        Err(err) => err,
    }
}

fn seconds(t: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(t.clamp(0.1, 1e6))
}

fn pairs(failures: &[HostFailure]) -> Vec<(String, String)> {
    failures
        .iter()
        .map(|f| (f.host.clone(), f.reason.clone()))
        .collect()
}

/// `(host, uri, token, version)` of one server that started.
type ServerRow = (String, String, Vec<u8>, String, Option<String>);

/// Servers started on other hosts; `stop()` (or garbage collection) stops
/// them and waits.
#[pyclass(module = "srpy._srpy", name = "RawCluster", frozen)]
pub struct RawCluster {
    inner: Mutex<Cluster>,
}

#[pymethods]
impl RawCluster {
    /// Starts one server per host over ssh. Raises
    /// `srpy._cluster.ClusterError(message, failures)` when too few started.
    #[staticmethod]
    #[pyo3(signature = (hosts, engines = "auto", server_command = None, ssh_command = None, listen_host = None, server_args = None, min_hosts = None, start_timeout = 60.0, token = None, tunnel = false))]
    #[allow(clippy::too_many_arguments)]
    fn ssh(
        py: Python<'_>,
        hosts: Vec<String>,
        engines: &str,
        server_command: Option<String>,
        ssh_command: Option<Vec<OsString>>,
        listen_host: Option<String>,
        server_args: Option<Vec<String>>,
        min_hosts: Option<usize>,
        start_timeout: f64,
        token: Option<Vec<u8>>,
        tunnel: bool,
    ) -> PyResult<RawCluster> {
        let defaults = SshOptions::default();
        let opts = SshOptions {
            hosts,
            engines: engines.to_owned(),
            server_command: server_command.unwrap_or(defaults.server_command),
            ssh_command: ssh_command.unwrap_or(defaults.ssh_command),
            listen_host,
            server_args: server_args.unwrap_or_default(),
            token,
            min_hosts,
            start_timeout: seconds(start_timeout),
            tunnel,
        };
        barrier(py, || match py.detach(|| Cluster::ssh(opts)) {
            Ok(cluster) => Ok(RawCluster {
                inner: Mutex::new(cluster),
            }),
            Err(e) => Err(launch_error(py, e)),
        })
    }

    /// Starts one server per node with Slurm (`srun` in the current
    /// allocation, else in a job submitted with `sbatch`).
    #[staticmethod]
    #[pyo3(signature = (nodes = None, engines_per_node = "auto", time = None, partition = None, sbatch_args = None, server_command = None, listen_host = None, server_args = None, start_timeout = 60.0, queue_timeout = None, progress = true))]
    #[allow(clippy::too_many_arguments)]
    fn slurm(
        py: Python<'_>,
        nodes: Option<usize>,
        engines_per_node: &str,
        time: Option<String>,
        partition: Option<String>,
        sbatch_args: Option<Vec<String>>,
        server_command: Option<String>,
        listen_host: Option<String>,
        server_args: Option<Vec<String>>,
        start_timeout: f64,
        queue_timeout: Option<f64>,
        progress: bool,
    ) -> PyResult<RawCluster> {
        let defaults = SlurmOptions::default();
        let opts = SlurmOptions {
            nodes,
            engines_per_node: engines_per_node.to_owned(),
            time,
            partition,
            sbatch_args: sbatch_args.unwrap_or_default(),
            server_command: server_command.unwrap_or(defaults.server_command),
            listen_host,
            server_args: server_args.unwrap_or_default(),
            start_timeout: seconds(start_timeout),
            queue_timeout: queue_timeout.map(seconds),
            progress,
        };
        barrier(py, || match py.detach(|| Cluster::slurm(opts)) {
            Ok(cluster) => Ok(RawCluster {
                inner: Mutex::new(cluster),
            }),
            Err(e) => Err(launch_error(py, e)),
        })
    }

    /// The Slurm job the cluster submitted, if any.
    fn slurm_job(&self, py: Python<'_>) -> PyResult<Option<String>> {
        barrier(py, || Ok(self.lock().slurm_job().map(str::to_owned)))
    }

    /// `[(host, uri, token, version, tls_pin)]` of the servers that started.
    fn servers(&self, py: Python<'_>) -> PyResult<Vec<ServerRow>> {
        barrier(py, || Ok(self.servers_now()))
    }

    /// `[(host, reason)]` of the hosts that did not start.
    fn failures(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        barrier(py, || Ok(pairs(self.lock().failures())))
    }

    /// `[(host, reason)]` of the hosts lost since they started.
    fn lost_hosts(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        barrier(py, || Ok(pairs(&self.lock().lost_hosts())))
    }

    /// Stops every server and waits for it. Idempotent.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        barrier(py, || {
            py.detach(|| self.lock().stop());
            Ok(())
        })
    }
}

impl RawCluster {
    /// The cluster; a panic that poisoned the lock (caught by the barrier
    /// of the call that panicked) leaves it usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, Cluster> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn servers_now(&self) -> Vec<ServerRow> {
        self.lock()
            .servers()
            .iter()
            .map(|s| {
                (
                    s.host.clone(),
                    s.uri.to_string(),
                    s.token().to_vec(),
                    s.version.clone(),
                    s.tls_pin.clone(),
                )
            })
            .collect()
    }
}
