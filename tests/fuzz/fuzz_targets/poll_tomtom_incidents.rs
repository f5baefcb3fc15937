#![no_main]
//! `cargo fuzz run poll_tomtom_incidents`: see `roadpulse::fuzzing::poll_tomtom_incidents`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::poll_tomtom_incidents(data));
