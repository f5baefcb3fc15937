//! Synthetic traffic: the workload generator behind the demo, the integration tests and the
//! benchmark.

pub mod generator;
