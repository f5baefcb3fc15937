#![no_main]
//! `cargo fuzz run repartition`: see `roadpulse::fuzzing::repartition`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roadpulse::fuzzing::repartition(data));
