#![no_main]
//! `cargo fuzz run poll_json`: see `roadpulse::fuzzing::poll_json`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::poll_json(data));
