//! Python value conversion inside an engine: any decoded value becomes a
//! Python object or a typed error (never a panic), and the object converts
//! back to a value that encodes. Runs an embedded CPython (with numpy, for
//! arrays); `scripts/fuzz.sh` points it at the project's venv.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pyo3::Python;

fuzz_target!(|data: &[u8]| {
    Python::attach(|py| {
        if let Err(panic) = _srpy::fuzz_convert(py, data) {
            panic!("conversion panicked: {panic}");
        }
    });
});
