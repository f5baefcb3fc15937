//! Synthetic traffic: the workload generator behind the demo, the integration tests and the
//! benchmark, with a connected road network over its segments; the scenario simulator (a cell transmission model with probes, detectors,
//! incidents and faults) that writes raw events plus ground truth; and the evaluator that
//! judges incident detection and congestion levels against that truth.

pub mod evaluate;
pub mod generator;
pub mod network;
pub mod road_network;
pub mod scenario;
pub mod sensors;
pub mod simulate;
pub mod speed_error;
pub mod truth;
