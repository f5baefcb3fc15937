#![no_main]
//! `cargo fuzz run changelog`: see `roadpulse::fuzzing::changelog`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::changelog(data));
