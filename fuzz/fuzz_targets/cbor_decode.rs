//! The CBOR decoder: any bytes decode to a value or a typed error, never a
//! panic; a decoded value encodes to bytes that decode to the same encoding
//! (the strict decoder and the encoder agree), and the owned decoder (used
//! for big frames) agrees with the borrowing one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use srpy_proto::cbor;

fuzz_target!(|data: &[u8]| {
    let borrowed = cbor::decode(data);
    let owned = cbor::decode_owned(data.to_vec());
    assert_eq!(
        borrowed.is_ok(),
        owned.is_ok(),
        "decode and decode_owned disagree"
    );
    if let Ok(v) = borrowed {
        let encoded = cbor::encode(&v);
        let again = cbor::decode(&encoded).expect("an encoded value decodes");
        assert_eq!(cbor::encode(&again), encoded, "encode/decode round trip");
        let _ = cbor::find_big_string(data, 1);
    }
});
