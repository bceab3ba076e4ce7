//! Postgres (activities, skus, recharge orders, quota accounts, raffle orders) and Redis
//! (sku stock counters).

mod postgres;
mod redis;

pub use postgres::{ActivityStore, CompleteOutcome, NewRecharge, PartakeOutcome, RaffleOrder, RechargeOutcome, SkuRow};
pub use redis::SkuStock;
