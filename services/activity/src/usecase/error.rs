//! The one error type of activity-quota; `grpc::status` maps it to the wire.

use crate::domain::{ActivityRuleError, QuotaError};

/// Why an activity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    /// No such activity.
    #[error("activity {0} does not exist")]
    ActivityNotFound(i64),
    /// No such sku.
    #[error("sku {0} does not exist")]
    SkuNotFound(i64),
    /// No activity is shown on this channel and source (`channel/source`).
    #[error("no activity is on stage {0}")]
    StageNotFound(String),
    /// No such raffle order.
    #[error("raffle order {0} does not exist")]
    OrderNotFound(String),
    /// The activity is not open or not in date (ERR_BIZ_003 / 004).
    #[error(transparent)]
    Rule(#[from] ActivityRuleError),
    /// No quota left (ERR_BIZ_006 / 007 / 008).
    #[error(transparent)]
    Quota(#[from] QuotaError),
    /// The sku has no stock left (ERR_BIZ_005).
    #[error("sku {0} has no stock left")]
    SkuStockEmpty(i64),
    /// The (user, out_business_no) was recharged before (0003).
    #[error("out_business_no {0} was recharged before")]
    DuplicateRecharge(String),
    /// The sku has no price (product_amount ≤ 0), so it cannot be bought with credit.
    #[error("sku {0} has no price (product_amount 0): it cannot be bought with credit")]
    FreeSku(i64),
    /// The caller says the user's available credit is below the sku's price (ERR_CREDIT_001).
    #[error("available credit {available} is below the price {price} of sku {sku}")]
    NotEnoughCredit {
        /// The sku.
        sku: i64,
        /// Its price.
        price: rust_decimal::Decimal,
        /// The user's available credit, as the caller read it.
        available: rust_decimal::Decimal,
    },
    /// Postgres failed.
    #[error("activity database failed")]
    Database(#[from] sqlx::Error),
    /// Redis failed.
    #[error("redis failed: {0}")]
    Redis(String),
}
