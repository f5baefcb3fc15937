#![no_main]
//! `cargo fuzz run poll_tomtom_flow`: see `roadpulse::fuzzing::poll_tomtom_flow`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::poll_tomtom_flow(data));
