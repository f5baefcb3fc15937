#![no_main]
//! `cargo fuzz run config_toml`: see `roadpulse::fuzzing::config_toml`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::config_toml(data));
