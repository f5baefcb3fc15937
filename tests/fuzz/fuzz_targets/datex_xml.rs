#![no_main]
//! `cargo fuzz run datex_xml`: see `roadpulse::fuzzing::datex_xml`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::datex_xml(data));
