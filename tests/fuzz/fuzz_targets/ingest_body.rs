#![no_main]
//! `cargo fuzz run ingest_body`: see `roadpulse::fuzzing::ingest_body`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::ingest_body(data));
