#![no_main]
//! `cargo fuzz run registry_response`: see `roadpulse::fuzzing::registry_response`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::registry_response(data));
