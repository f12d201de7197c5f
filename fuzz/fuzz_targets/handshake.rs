//! The handshake, both sides: the input is a run of frames, each parsed as
//! the message its `t` names (hello, challenge, auth, welcome); a parsed
//! message is negotiated or verified as the server or client would, and
//! written back and parsed again to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use srpy_proto::cbor;
use srpy_proto::frame::{split_frame, HANDSHAKE_MAX_FRAME};
use srpy_proto::handshake::{self, AuthReply, Challenge, Hello, Welcome};

const TOKEN: &[u8] = b"fuzz token";

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut server_nonce = [7u8; handshake::NONCE_LEN];
    let mut client_nonce = [9u8; handshake::NONCE_LEN];
    while let Ok((payload, tail)) = split_frame(rest, HANDSHAKE_MAX_FRAME) {
        rest = tail;
        let Ok(v) = cbor::decode(payload) else {
            continue;
        };
        match handshake::message_type(&v).map(str::to_owned).as_deref() {
            Some("hello") => {
                if let Ok(h) = Hello::from_value(v) {
                    if h.negotiate().is_none() {
                        let _ = h.version_mismatch();
                    }
                    assert_eq!(Hello::from_value(h.to_value()).ok(), Some(h));
                }
            }
            Some("challenge") => {
                if let Ok(c) = Challenge::from_value(v) {
                    server_nonce = c.nonce;
                    assert_eq!(Challenge::from_value(c.to_value()).ok(), Some(c));
                }
            }
            Some("auth") => {
                if let Ok(a) = AuthReply::from_value(v) {
                    client_nonce = a.nonce;
                    let _ =
                        handshake::verify_client_proof(TOKEN, &server_nonce, &a.nonce, &a.proof);
                    assert_eq!(AuthReply::from_value(a.to_value()).ok(), Some(a));
                }
            }
            Some("welcome") => {
                if let Ok(w) = Welcome::from_value(v) {
                    let _ = handshake::verify_server_proof(
                        TOKEN,
                        &server_nonce,
                        &client_nonce,
                        &w.proof,
                    );
                    assert_eq!(
                        Welcome::from_value(w.to_value()).ok().map(|w| w.proof),
                        Some(w.proof)
                    );
                }
            }
            _ => {}
        }
    }
});
