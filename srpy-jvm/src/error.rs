//! Errors of the native methods and the policy that turns each into the
//! right Java exception (never anything else crosses into the JVM).

use std::any::Any;
use std::fmt;

use jni::errors::ErrorPolicy;
use jni::sys::{jobject, jvalue};
use jni::Env;

use crate::raw::{cache_opt, jv_obj, G, J};

/// What a native method can fail with.
#[derive(Debug)]
pub enum JvmError {
    /// An error of the Rust client (connecting, a remote exception, …).
    Client(srpy_client::Error),
    /// A Java value has no mapping, or an argument is invalid:
    /// `IllegalArgumentException`.
    Arg(String),
    /// `IllegalStateException`.
    State(String),
    /// A value cannot be represented on the other side.
    NotTransferable(String),
    /// A Java exception is pending already (thrown by a JNI call or a Java
    /// method called from here): it propagates as it is.
    Java,
    /// A failure inside this library (reported as `SRPyException`).
    Internal(String),
}

impl fmt::Display for JvmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JvmError::Client(e) => write!(f, "{e}"),
            JvmError::Arg(m) | JvmError::State(m) | JvmError::Internal(m) => f.write_str(m),
            JvmError::NotTransferable(m) => write!(f, "value not transferable: {m}"),
            JvmError::Java => f.write_str("a Java exception is pending"),
        }
    }
}

impl std::error::Error for JvmError {}

impl From<srpy_client::Error> for JvmError {
    fn from(e: srpy_client::Error) -> Self {
        JvmError::Client(e)
    }
}

impl From<jni::errors::Error> for JvmError {
    fn from(e: jni::errors::Error) -> Self {
        match e {
            jni::errors::Error::JavaException => JvmError::Java,
            other => JvmError::Internal(format!("JNI: {other}")),
        }
    }
}

/// Throws the Java exception for `err` (unless one is pending already).
pub fn throw(j: &J, err: JvmError) {
    if j.pending() || matches!(err, JvmError::Java) {
        return;
    }
    if cache_opt().is_none() {
        throw_fallback(j, &err.to_string());
        return;
    }
    match exception_object(j, err) {
        Ok(ex) => {
            j.throw(ex);
            j.del(ex);
        }
        Err(e) => {
            if !j.pending() {
                throw_fallback(j, &e.to_string());
            }
        }
    }
}

/// The Java exception object for `err`, not thrown (box results carry them
/// as values). `JvmError::Java` takes the pending exception.
pub fn exception_object(j: &J, err: JvmError) -> Result<jobject, JvmError> {
    let c = cache_opt().ok_or_else(|| JvmError::Internal("not initialised".into()))?;
    let (cls, msg): (G, String) = match err {
        JvmError::Java => {
            let ex = j.take_exception();
            return if ex.is_null() {
                Err(JvmError::Internal("no pending exception".into()))
            } else {
                Ok(ex)
            };
        }
        JvmError::Arg(m) => (c.ex_illegal_argument, m),
        JvmError::State(m) => (c.ex_illegal_state, m),
        JvmError::NotTransferable(m) => (c.ex_not_transferable, m),
        JvmError::Internal(m) => (c.ex_srpy, format!("internal error in srpy-jvm: {m}")),
        JvmError::Client(e) => {
            use srpy_client::Error as E;
            let cls = match &e {
                E::Remote {
                    type_name,
                    message,
                    traceback,
                } => return remote_object(j, type_name, message, traceback.as_deref()),
                E::Protocol(_) | E::Version(_) => c.ex_protocol,
                E::Auth(_) => c.ex_auth,
                E::EngineDied(_) => c.ex_engine_died,
                E::Timeout(_) => c.ex_timeout,
                E::Interrupted(_) => c.ex_interrupted,
                E::NotTransferable(_) => c.ex_not_transferable,
                E::UnsupportedOp(_) => c.ex_unsupported,
                E::NoSuchEngine(_) => c.ex_no_such_engine,
                E::ServerNotFound { .. } => c.ex_server_not_found,
                E::Closed => c.ex_illegal_state,
                E::InvalidUri(_) => c.ex_illegal_argument,
                _ => c.ex_srpy,
            };
            (cls, e.to_string())
        }
    };
    let ctor = j.method(cls, c"<init>", c"(Ljava/lang/String;)V")?;
    let m = j.new_string(&msg)?;
    let r = j.new_obj(cls, ctor, &[jv_obj(m)]);
    j.del(m);
    r
}

fn remote_object(
    j: &J,
    type_name: &str,
    message: &str,
    traceback: Option<&str>,
) -> Result<jobject, JvmError> {
    let c = cache_opt().ok_or_else(|| JvmError::Internal("not initialised".into()))?;
    let t = j.new_string(type_name)?;
    let m = j.new_string(message)?;
    let tb = match traceback {
        Some(s) => j.new_string(s)?,
        None => std::ptr::null_mut(),
    };
    let args: [jvalue; 3] = [jv_obj(t), jv_obj(m), jv_obj(tb)];
    let ex = j.new_obj(c.ex_remote, c.ex_remote_ctor, &args);
    j.del(t);
    j.del(m);
    j.del(tb);
    ex
}

fn throw_fallback(j: &J, msg: &str) {
    if let Ok(cls) = j.class(c"java/lang/RuntimeException") {
        j.throw_new(cls, &format!("srpy-jvm: {msg}"));
    }
}

/// Error policy of every native method: an `Err` becomes the matching
/// `org.srpy` (or `IllegalArgument`/`IllegalState`) exception, a panic an
/// `SRPyException`, and the method returns its type's default value.
pub struct ThrowSrpy;

impl<T: Default> ErrorPolicy<T, JvmError> for ThrowSrpy {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut Self::Captures<'unowned_env_local, 'native_method>,
        err: JvmError,
    ) -> jni::errors::Result<T> {
        // SAFETY: the env of the native call on this thread.
        let j = unsafe { J::new(env.get_raw()) };
        throw(&j, err);
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut Self::Captures<'unowned_env_local, 'native_method>,
        payload: Box<dyn Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        // SAFETY: as above.
        let j = unsafe { J::new(env.get_raw()) };
        let msg = srpy_client::panic::message(payload);
        // A pending exception from before the panic is replaced: the panic
        // is the more important news.
        j.clear_exception();
        throw(&j, JvmError::Internal(format!("Rust panic: {msg}")));
        Ok(T::default())
    }
}
