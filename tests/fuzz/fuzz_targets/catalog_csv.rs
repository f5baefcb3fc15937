#![no_main]
//! `cargo fuzz run catalog_csv`: see `roadpulse::fuzzing::catalog_csv`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::catalog_csv(data));
