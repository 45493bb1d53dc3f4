//! Fuzzes the request path up to execution: body, limits, parsing, validation, guards.
//! `cargo +nightly fuzz run request fuzz/seeds -- -max_total_time=300` (see the README).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = learngraph::http::fuzz::request_path(data);
});
