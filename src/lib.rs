//! ticketlab: a cluster lab for e-ticket validation protocols. See ARCHITECTURE.md for the map.

pub mod cdf;
pub mod check;
pub mod checker;
pub mod cli;
pub mod compare;
pub mod diagram;
pub mod explain;
pub mod explore;
pub mod formats;
pub mod history;
pub mod lab;
pub mod latency;
pub mod nemesis;
pub mod outputs;
pub mod plot;
pub mod process;
pub mod progress;
pub use ticketlab_protocols as protocol;
pub mod report;
pub mod resilience;
pub mod scenario;
pub mod shrink;
pub mod sim;
pub mod sweep;
pub mod tally;
pub mod text;
pub mod workload;
