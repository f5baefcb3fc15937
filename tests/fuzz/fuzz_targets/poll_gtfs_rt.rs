#![no_main]
//! `cargo fuzz run poll_gtfs_rt`: see `roadpulse::fuzzing::poll_gtfs_rt`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::poll_gtfs_rt(data));
