//! `bm-bench`: the load tool of big-market (issue #9, docs/BENCHMARKS.md). N virtual users,
//! each with its own user id, call one service for a fixed time or count; the report gives
//! throughput, latency percentiles from a log-linear histogram, errors by gRPC and business
//! code, and the ratio to a baseline measured on the same machine in the same run
//! (ARCHITECTURE.md §8.15). It only ever loads loopback addresses and always stops by
//! itself (`--duration` ≤ 10 min, `--requests` ≤ 10 M, every call ≤ 10 s).

pub mod args;
pub mod cpu;
pub mod histogram;
pub mod report;
pub mod run;
