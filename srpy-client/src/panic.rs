//! Panic barriers for the language bindings (srpy-py, srpy-jvm): code that
//! panics becomes an error value, so a panic fails one call and never
//! reaches a user as a foreign unwind or kills a thread that other calls
//! need (a runtime driver, a futures thread, an engine's main loop).

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The text of a panic payload.
pub fn message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<&'static str>() {
        Ok(s) => (*s).to_owned(),
        Err(p) => match p.downcast::<String>() {
            Ok(s) => *s,
            Err(p) => {
                // Dropping an odd payload could itself panic: leak it.
                std::mem::forget(p);
                "a panic with a non-text payload".to_owned()
            }
        },
    }
}

/// Runs `f`; a panic comes back as `Err` with its message. The callers
/// drop whatever `f` was working on, so unwind safety is asserted.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(message)
}

/// Awaits `fut`; a panic while polling it comes back as `Err` with its
/// message (the future is dropped then).
pub async fn catch_future<T>(fut: impl Future<Output = T>) -> Result<T, String> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| match catch(|| fut.as_mut().poll(cx)) {
        Ok(p) => p.map(Ok),
        Err(m) => std::task::Poll::Ready(Err(m)),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(catch(|| 7), Ok(7));
        assert_eq!(
            catch(|| -> () { panic!("boom {}", 1) }),
            Err("boom 1".into())
        );
        assert_eq!(
            catch(|| std::panic::panic_any(5u8)),
            Err("a panic with a non-text payload".into())
        );
    }

    #[test]
    fn a_panicking_future_becomes_its_message() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(catch_future(async { 3 })), Ok(3));
        let r = rt.block_on(catch_future(async {
            tokio::task::yield_now().await;
            let v: Vec<u8> = Vec::new();
            v[1]
        }));
        assert!(r.unwrap_err().contains("index out of bounds"));
    }
}
