#![no_main]
//! `cargo fuzz run json_raw_event`: see `roadpulse::fuzzing::json_raw_event`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::json_raw_event(data));
