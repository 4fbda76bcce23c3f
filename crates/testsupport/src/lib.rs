//! What the lab, the benchmarks and the tests share, and the daemons never
//! use: network-namespace helpers.

pub mod netns;
