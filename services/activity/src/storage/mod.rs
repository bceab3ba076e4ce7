//! Postgres (activities, skus, recharge orders, quota accounts, raffle orders) and Redis
//! (sku stock counters); the activity stage.

mod credit_pay;
mod postgres;
mod rebate;
mod redis;
mod stage;

pub use credit_pay::{ClaimWindow, CreditPayOrder, PayOutcome, RechargeOrderRow};
pub use postgres::{
    ActivityStore, CompleteOutcome, NewRecharge, OrderRow, PartakeOutcome, Payment, QuotaGrant, RaffleOrder,
    RechargeOutcome, SkuRow,
};
pub use rebate::{RebateConfig, RebateOrder, RebateWrite};
pub use redis::SkuStock;
pub use stage::StagePut;
