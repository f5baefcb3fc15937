#![no_main]
//! `cargo fuzz run poll_here_incidents`: see `roadpulse::fuzzing::poll_here_incidents`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::poll_here_incidents(data));
