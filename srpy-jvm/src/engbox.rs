//! Native methods of `org.srpy.EngBox`: the Rust client's
//! [`srpy_client::EngBox`] behind a handle (a boxed `RwLock<EngBox>`; the
//! Java side serialises mutations against runs with its own lock, this lock
//! only keeps Rust sound).
//!
//! Results of a run on every engine come back as an `Object[]` in box
//! order, each entry the engine's converted answer or the Java exception
//! object its error maps to (not thrown).

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use jni::sys::{jboolean, jclass, jdouble, jint, jlong, jobject, jstring};
use jni::EnvUnowned;
use srpy_client::engbox::{Basis, MapOptions, MapTask};
use srpy_client::{CallOptions, EngBox, Engine, Op, Value};

use crate::convert::{to_args, to_java};
use crate::error::{exception_object, JvmError};
use crate::raw::{cache, Cache, J};
use crate::{
    block_on, build_op, connect_options, duration, engine, free_handle, opt_string, run,
    string_arg, with_output, Obj,
};

type Handle = RwLock<EngBox>;

fn handle<'a>(h: jlong) -> Result<&'a Handle, JvmError> {
    if h == 0 {
        return Err(JvmError::State("the box is closed".into()));
    }
    // SAFETY: made by `boxNew`, freed once by the Java side after its last use.
    Ok(unsafe { &*(h as *const Handle) })
}

/// A snapshot of the box (cheap: the engines are shared handles).
fn snapshot(h: jlong) -> Result<EngBox, JvmError> {
    Ok(handle(h)?.read().unwrap_or_else(|e| e.into_inner()).clone())
}

fn engine_handles(j: &J, engines: Vec<Engine>) -> Result<jobject, JvmError> {
    let handles: Vec<jlong> = engines
        .into_iter()
        .map(|e| Box::into_raw(Box::new(e)) as jlong)
        .collect();
    j.long_array(&handles)
}

fn indices(j: &J, v: Vec<usize>) -> Result<jobject, JvmError> {
    let v: Vec<jint> = v.into_iter().map(|i| i as jint).collect();
    j.int_array(&v)
}

/// Box results as an `Object[]` of values and exception objects.
fn results(
    j: &J,
    c: &Cache,
    rs: Vec<(usize, srpy_client::Result<Value>)>,
) -> Result<jobject, JvmError> {
    let arr = j.new_object_array(rs.len(), c.object)?;
    for (i, (_, r)) in rs.into_iter().enumerate() {
        let o = match r {
            Ok(v) => match to_java(j, c, v) {
                Ok(o) => o,
                Err(e) => exception_object(j, e)?,
            },
            Err(e) => exception_object(j, e.into())?,
        };
        let set = j.array_set(arr, i, o);
        j.del(o);
        set?;
    }
    Ok(arr)
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxNew<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
) -> jlong {
    run(&mut env, |_| {
        Ok(Box::into_raw(Box::new(RwLock::new(EngBox::default()))) as jlong)
    })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxFree<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
) {
    // SAFETY: made by `boxNew`, freed once.
    run(&mut env, |_| unsafe { free_handle::<Handle>(h) })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxAppend<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    eng: jlong,
) {
    run(&mut env, |_| {
        let e = engine(eng)?.clone();
        handle(h)?
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .append(e);
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxRemove<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    index: jint,
) {
    run(&mut env, |_| {
        let mut b = handle(h)?.write().unwrap_or_else(|e| e.into_inner());
        let i = usize::try_from(index).map_err(|_| JvmError::Arg("negative index".into()))?;
        if i >= b.len() {
            return Err(JvmError::Arg(format!(
                "no engine {i} in a box of {}",
                b.len()
            )));
        }
        b.remove(i);
        Ok(())
    })
}

/// Connects the engines of `what` (a URI, or with `text` a list of URIs)
/// and appends them; answers handles of the new engines (for PythonEngine
/// objects), in box order.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxStartAndAppend<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    what: jstring,
    token: jobject,
    connect_timeout: jdouble,
    tls: jobject,
    kind: jint,
) -> jobject {
    run(&mut env, |j| {
        let what = string_arg(j, what, "uri")?;
        let opts = connect_options(j, token, connect_timeout, tls)?;
        // Connect on a copy, then append: the lock is not held while connecting.
        let mut fresh = EngBox::default();
        match kind {
            0 => block_on(fresh.start_and_append(what.as_str(), &opts))?,
            1 => block_on(fresh.start_and_append_from_text(&what, &opts))?,
            _ => block_on(fresh.start_and_append_from_file(PathBuf::from(&what), &opts))?,
        };
        let engines = fresh.engines();
        {
            let mut b = handle(h)?.write().unwrap_or_else(|e| e.into_inner());
            for e in &engines {
                b.append(e.clone());
            }
        }
        engine_handles(j, engines).map(Obj)
    })
    .0
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_engineUri<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    eng: jlong,
) -> jstring {
    run(&mut env, |j| {
        j.new_string(&engine(eng)?.uri().to_string()).map(Obj)
    })
    .0
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxSearch<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    name: jstring,
    group: jstring,
    ip: jstring,
    hostname: jstring,
) -> jobject {
    run(&mut env, |j| {
        let (name, group) = (opt_string(j, name)?, opt_string(j, group)?);
        let (ip, hostname) = (opt_string(j, ip)?, opt_string(j, hostname)?);
        let b = snapshot(h)?;
        let found = block_on(b.search_for_engine(
            name.as_deref(),
            group.as_deref(),
            ip.as_deref(),
            hostname.as_deref(),
        ));
        indices(j, found).map(Obj)
    })
    .0
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxFastest<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    single: jboolean,
    basis: jstring,
) -> jobject {
    run(&mut env, |j| {
        let basis = match opt_string(j, basis)?.as_deref() {
            None => Basis::All,
            Some(s) => s
                .parse::<Basis>()
                .map_err(|e| JvmError::Arg(e.to_string()))?,
        };
        let b = snapshot(h)?;
        indices(j, block_on(b.get_fastest(single, basis))).map(Obj)
    })
    .0
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxDead<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    fresh: jboolean,
) -> jobject {
    run(&mut env, |j| {
        let b = snapshot(h)?;
        indices(j, block_on(b.get_dead(fresh))).map(Obj)
    })
    .0
}

/// One operation (named, with its fields, as for `Native.request`) on every engine, in
/// parallel or one after the other; output to `out` on this thread.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxRun<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    parallel: jboolean,
    op: jstring,
    fields: jobject,
    timeout: jdouble,
    out: jobject,
) -> jobject {
    run(&mut env, |j| {
        let c = cache()?;
        let op: Op = build_op(j, c, op, fields)?;
        let bx = snapshot(h)?;
        let timeout: Option<Duration> = duration(timeout);
        let rs = with_output(j, c, out, |sink| async move {
            let mut opts = CallOptions {
                timeout,
                ..CallOptions::default()
            };
            if !op.is_immediate() {
                opts.output = Some(sink);
            }
            if parallel {
                bx.run_parallel_with(op, opts).await
            } else {
                let mut out = Vec::with_capacity(bx.len());
                for (i, e) in bx.engines().into_iter().enumerate() {
                    out.push((i, e.perform(op.clone(), opts.clone()).await));
                }
                out
            }
        });
        results(j, c, rs).map(Obj)
    })
    .0
}

/// A load-balanced map: `kind` 0 calls the function named `task` on every
/// item, 1 evaluates the expression `task` with the item bound to `x`.
/// Answers the results in item order (`Object[]`); the first failing item
/// is thrown.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxMap<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    kind: jint,
    task: jstring,
    items: jobject,
    chunksize: jint,
    out: jobject,
) -> jobject {
    run(&mut env, |j| {
        let c = cache()?;
        let task = string_arg(j, task, "task")?;
        let task = if kind == 0 {
            MapTask::call(task)
        } else {
            MapTask::expr(task)
        };
        let items = to_args(j, c, items)?;
        let bx = snapshot(h)?;
        let output = with_output(j, c, out, |sink| async move {
            let mut opts = MapOptions::default();
            if chunksize > 0 {
                opts = opts.chunksize(chunksize as usize);
            }
            opts.output = Some(sink);
            bx.map(task, items, opts).await
        })?;
        let values = output.into_values().map_err(|e| {
            JvmError::Client(match e.error {
                srpy_client::Error::Remote {
                    type_name,
                    message,
                    traceback,
                } => srpy_client::Error::Remote {
                    type_name,
                    message: format!("{message} (map item {})", e.index),
                    traceback,
                },
                other => other,
            })
        })?;
        let arr = j.new_object_array(values.len(), c.object)?;
        for (i, v) in values.into_iter().enumerate() {
            let o = to_java(j, c, v)?;
            let r = j.array_set(arr, i, o);
            j.del(o);
            r?;
        }
        Ok(Obj(arr))
    })
    .0
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxScatter<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    name: jstring,
    items: jobject,
) {
    run(&mut env, |j| {
        let c = cache()?;
        let name = string_arg(j, name, "name")?;
        let items = to_args(j, c, items)?;
        let bx = snapshot(h)?;
        block_on(bx.scatter(&name, items))?;
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_srpy_Native_boxGather<'l>(
    mut env: EnvUnowned<'l>,
    _cls: jclass,
    h: jlong,
    name: jstring,
) -> jobject {
    run(&mut env, |j| {
        let c = cache()?;
        let name = string_arg(j, name, "name")?;
        let bx = snapshot(h)?;
        let items = block_on(bx.gather(&name))?;
        to_java(j, c, Value::List(items)).map(Obj)
    })
    .0
}
