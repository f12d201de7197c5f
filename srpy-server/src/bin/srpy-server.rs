//! `srpy-server`: serves a directory of CPython engines on one host (the
//! program is [`srpy_server::cli::main`]).

fn main() {
    std::process::exit(srpy_server::cli::main(std::env::args_os()));
}
