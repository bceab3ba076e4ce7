//! Postgres (the truth: configuration and one draw record per order) and Redis (the shared
//! armory copy and the stock counters).

mod postgres;
mod redis;

pub use postgres::{DrawRecord, StrategyStore};
pub use redis::{RedisStock, RedisStrategyCache};
