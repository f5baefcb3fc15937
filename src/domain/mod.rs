//! The pure core: raw events in, congestion and incident events out. No I/O, no clocks, no Kafka, no
//! metrics: adapters call into it and turn its results into effects. Deterministic, so a
//! replay of a file reproduces a distributed run exactly.

pub mod aggregate;
pub mod catalog;
pub mod congestion;
pub mod event;
pub mod flow;
pub mod future;
pub mod incident;
pub mod intern;
pub mod limits;
pub mod output;
pub mod partition;
pub mod processor;
pub mod sampling;
pub mod segments;
pub mod sketch;
pub mod tracks;
pub mod urban;
pub mod window;

#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod open_windows_tests;
#[cfg(test)]
mod processor_tests;
#[cfg(test)]
mod processor_time_tests;
#[cfg(test)]
mod speed_tests;
