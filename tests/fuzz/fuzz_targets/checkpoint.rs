#![no_main]
//! `cargo fuzz run checkpoint`: see `roadpulse::fuzzing::checkpoint`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::checkpoint(data));
