//! Postgres (activities, skus, recharge orders, quota accounts, raffle orders) and Redis
//! (sku stock counters); the activity stage.

mod postgres;
mod rebate;
mod redis;
mod stage;

pub use postgres::{
    ActivityStore, CompleteOutcome, NewRecharge, OrderRow, PartakeOutcome, RaffleOrder, RechargeOutcome, SkuRow,
};
pub use rebate::{RebateConfig, RebateOrder, RebateWrite};
pub use redis::SkuStock;
pub use stage::StagePut;
