#![no_main]
//! `cargo fuzz run avro_raw_event`: see `roadpulse::fuzzing::avro_raw_event`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::avro_raw_event(data));
