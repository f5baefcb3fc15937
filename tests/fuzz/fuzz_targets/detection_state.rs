#![no_main]
//! `cargo fuzz run detection_state`: see `roadpulse::fuzzing::detection_state`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::detection_state(data));
