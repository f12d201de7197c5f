//! Request and reply parsing: any decoded value parses to a request (or
//! reply) or a typed error naming what was wrong; a parsed request written
//! back parses to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use srpy_proto::{cbor, Reply, Request};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = cbor::decode(data) else {
        return;
    };
    match Request::from_value(v.clone()) {
        Ok(r) => {
            let _ = (r.op.name(), r.op.known_name(), r.op.is_immediate());
            let again = Request::from_value(r.to_value()).expect("a written request parses");
            assert_eq!(cbor::encode(&again.to_value()), cbor::encode(&r.to_value()));
        }
        Err(e) => {
            let _ = (e.id, e.error.to_string());
        }
    }
    if let Ok(r) = Reply::from_value(v) {
        let again = Reply::from_value(r.to_value()).expect("a written reply parses");
        assert_eq!(cbor::encode(&again.to_value()), cbor::encode(&r.to_value()));
    }
});
