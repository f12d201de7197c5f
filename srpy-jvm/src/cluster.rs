//! Native methods of `org.srpy.Cluster`: the Rust client's
//! [`srpy_client::Cluster`] (servers started over ssh or Slurm) behind a
//! handle (a boxed `Mutex<Cluster>`, freed once by the Java side).
//!
//! Starting answers either the handle (a `Long`) or, when too few hosts
//! started, `[message, [[host, reason], ...]]` (a `List`), which the Java
//! side throws as `ClusterException`; the servers and failures come back
//! as lists of the same shapes as CPython's `RawCluster` rows. Everything
//! goes through [`to_java`], so no new Java class is looked up here.

use std::sync::{Mutex, MutexGuard};

use jni::sys::{jboolean, jclass, jdouble, jint, jlong, jobject, jstring};
use jni::EnvUnowned;
use srpy_client::cluster::{Cluster, HostFailure, LaunchError, SlurmOptions, SshOptions};
use srpy_client::Value;

use crate::convert::to_java;
use crate::error::JvmError;
use crate::raw::{cache, J};
use crate::{duration, free_handle, opt_bytes, opt_string, run, string_array, Obj};

type Handle = Mutex<Cluster>;

fn handle<'a>(h: jlong) -> Result<MutexGuard<'a, Cluster>, JvmError> {
    if h == 0 {
        return Err(JvmError::State("the cluster is closed".into()));
    }
    // SAFETY: made by a start below, freed once by the Java side after its
    // last use.
    let m = unsafe { &*(h as *const Handle) };
    Ok(m.lock().unwrap_or_else(|p| p.into_inner()))
}

/// The entries of a `String[]`, none of them null.
fn strings(j: &J, a: jobject, what: &str) -> Result<Vec<String>, JvmError> {
    string_array(j, a)?
        .into_iter()
        .map(|s| s.ok_or_else(|| JvmError::Arg(format!("{what}: an entry is null"))))
        .collect()
}

fn failures(f: &[HostFailure]) -> Value {
    Value::List(
        f.iter()
            .map(|f| {
                Value::List(vec![
                    Value::Str(f.host.clone()),
                    Value::Str(f.reason.clone()),
                ])
            })
            .collect(),
    )
}

/// The handle of a started cluster, or the launch error as a value.
fn started(j: &J, r: Result<Cluster, LaunchError>) -> Result<Obj, JvmError> {
    let v = match r {
        Ok(cluster) => Value::Int(Box::into_raw(Box::new(Mutex::new(cluster))) as i64),
        Err(e) => Value::List(vec![Value::Str(e.to_string()), failures(&e.failures)]),
    };
    to_java(j, cache()?, v).map(Obj)
}

/// `timeout` seconds, the default when NaN or not positive.
fn seconds_or(timeout: f64, default: std::time::Duration) -> std::time::Duration {
    duration(timeout).unwrap_or(default)
}

#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_org_srpy_Native_clusterSsh<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    hosts: jobject,
    engines: jstring,
    server_command: jstring,
    ssh_command: jobject,
    listen_host: jstring,
    server_args: jobject,
    min_hosts: jint,
    start_timeout: jdouble,
    token: jobject,
    tunnel: jboolean,
) -> jobject {
    run(&mut env, |j| {
        let d = SshOptions::default();
        let ssh = strings(j, ssh_command, "sshCommand")?;
        let opts = SshOptions {
            hosts: strings(j, hosts, "hosts")?,
            engines: opt_string(j, engines)?.unwrap_or(d.engines),
            server_command: opt_string(j, server_command)?.unwrap_or(d.server_command),
            ssh_command: if ssh.is_empty() {
                d.ssh_command
            } else {
                ssh.into_iter().map(Into::into).collect()
            },
            listen_host: opt_string(j, listen_host)?,
            server_args: strings(j, server_args, "serverArgs")?,
            token: opt_bytes(j, token)?,
            min_hosts: (min_hosts > 0).then_some(min_hosts as usize),
            start_timeout: seconds_or(start_timeout, d.start_timeout),
            tunnel,
        };
        if opts.hosts.is_empty() {
            return Err(JvmError::Arg("hosts must not be empty".into()));
        }
        started(j, Cluster::ssh(opts))
    })
    .0
}

#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_org_srpy_Native_clusterSlurm<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    nodes: jint,
    engines_per_node: jstring,
    time: jstring,
    partition: jstring,
    sbatch_args: jobject,
    server_command: jstring,
    listen_host: jstring,
    server_args: jobject,
    start_timeout: jdouble,
    queue_timeout: jdouble,
    progress: jboolean,
) -> jobject {
    run(&mut env, |j| {
        let d = SlurmOptions::default();
        let opts = SlurmOptions {
            nodes: (nodes > 0).then_some(nodes as usize),
            engines_per_node: opt_string(j, engines_per_node)?.unwrap_or(d.engines_per_node),
            time: opt_string(j, time)?,
            partition: opt_string(j, partition)?,
            sbatch_args: strings(j, sbatch_args, "sbatchArgs")?,
            server_command: opt_string(j, server_command)?.unwrap_or(d.server_command),
            listen_host: opt_string(j, listen_host)?,
            server_args: strings(j, server_args, "serverArgs")?,
            start_timeout: seconds_or(start_timeout, d.start_timeout),
            queue_timeout: duration(queue_timeout),
            progress,
        };
        started(j, Cluster::slurm(opts))
    })
    .0
}

/// `[[host, uri, token (byte[]), version, tlsPin or null], ...]`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_clusterServers<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) -> jobject {
    run(&mut env, |j| {
        let rows = handle(h)?
            .servers()
            .iter()
            .map(|s| {
                Value::List(vec![
                    Value::Str(s.host.clone()),
                    Value::Str(s.uri.to_string()),
                    Value::Bytes(s.token().to_vec().into()),
                    Value::Str(s.version.clone()),
                    s.tls_pin.clone().map_or(Value::Null, Value::Str),
                ])
            })
            .collect();
        to_java(j, cache()?, Value::List(rows)).map(Obj)
    })
    .0
}

/// `[[host, reason], ...]`: the hosts that did not start, or (`lost`) those
/// lost since.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_clusterFailures<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    lost: jboolean,
) -> jobject {
    run(&mut env, |j| {
        let c = handle(h)?;
        let v = if lost {
            failures(&c.lost_hosts())
        } else {
            failures(c.failures())
        };
        drop(c);
        to_java(j, cache()?, v).map(Obj)
    })
    .0
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_clusterSlurmJob<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) -> jstring {
    run(&mut env, |j| match handle(h)?.slurm_job() {
        Some(job) => j.new_string(job).map(Obj),
        None => Ok(Obj::default()),
    })
    .0
}

/// Stops every server and waits for it (idempotent), then frees the handle.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_clusterFree<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) {
    // SAFETY: made by a start above, freed once; dropping stops the servers.
    run(&mut env, |_| unsafe { free_handle::<Handle>(h) })
}
