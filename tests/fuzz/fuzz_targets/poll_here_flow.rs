#![no_main]
//! `cargo fuzz run poll_here_flow`: see `roadpulse::fuzzing::poll_here_flow`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::poll_here_flow(data));
