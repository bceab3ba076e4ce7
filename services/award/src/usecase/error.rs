//! The one error type of the award service; `grpc::status` maps it to the wire.

use crate::{
    domain::{AwardConfigError, InsufficientCredit},
    events::PublishError,
};

/// Why an award operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AwardError {
    /// The order id already holds another user's award record.
    #[error("order {order_id} is already recorded for another user")]
    OrderTaken {
        /// The raffle order.
        order_id: String,
    },
    /// A reverse credit trade asks for more than the account has available
    /// (`ERR_CREDIT_001`); nothing was written.
    #[error("user {user_id}: {shortfall}")]
    InsufficientCredit {
        /// The user.
        user_id: String,
        /// What was available and what was asked for.
        shortfall: InsufficientCredit,
    },
    /// The user's out_business_no is booked already with other fields (`0003`).
    #[error("out_business_no {out_business_no:?} of user {user_id} is booked already as another trade ({booked})")]
    TradeConflict {
        /// The user.
        user_id: String,
        /// The idempotency key.
        out_business_no: String,
        /// The booked trade, described.
        booked: String,
    },
    /// The award config is not a range (`ERR_CONFIG_001`).
    #[error(transparent)]
    Config(#[from] AwardConfigError),
    /// Nothing can deliver this award key.
    #[error("award_key {0:?} has no delivery (known: user_credit_random, openai_use_count, openai_model)")]
    UnknownAwardKey(String),
    /// A send_award message names an order with no award record.
    #[error("no award record for user {user_id} order {order_id}")]
    RecordMissing {
        /// The user.
        user_id: String,
        /// The raffle order.
        order_id: String,
    },
    /// A send_rebate's integral rebate cannot be booked (bad amount, user or biz_id).
    #[error("rebate order {order_id} cannot be credited: {reason}")]
    BadRebate {
        /// The rebate order.
        order_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A message payload does not parse.
    #[error("malformed send_award payload: {0}")]
    BadPayload(String),
    /// Postgres failed.
    #[error("award database failed")]
    Database(#[from] sqlx::Error),
    /// NATS failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Stored state could not be read back (a bug or a foreign writer).
    #[error("corrupt stored state: {0}")]
    Corrupt(String),
}

impl AwardError {
    /// Whether retrying cannot help: the distributor parks such a message at once instead
    /// of redelivering it.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Config(_)
            | Self::UnknownAwardKey(_)
            | Self::RecordMissing { .. }
            | Self::BadPayload(_)
            | Self::BadRebate { .. }
            | Self::OrderTaken { .. }
            | Self::InsufficientCredit { .. }
            | Self::TradeConflict { .. }
            | Self::Corrupt(_) => true,
            Self::Database(_) | Self::Publish(_) => false,
        }
    }
}
