//! Postgres (the truth: configuration, one draw record per order, seed epochs) and Redis
//! (the shared armory copy and the stock counters).

mod batch;
mod postgres;
mod redis;
mod seeds;

pub use batch::{BatchSettings, MAX_QUEUE_WAIT, ResultWriter};
pub use postgres::{DrawInputs, DrawRecord, Recorded, StrategyStore};
pub use redis::{RedisStock, RedisStrategyCache};
pub use seeds::{ActiveEpoch, EpochView, SeedVault};
