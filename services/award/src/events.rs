//! The `send_award` and `credit_adjust_success` events (ARCHITECTURE.md §5, docs/award.md) and
//! JetStream publishing with `Nats-Msg-Id`.

use std::time::Duration;

use async_nats::jetstream;
use serde::{Deserialize, Serialize};

/// The event envelope of ARCHITECTURE.md §5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Message id (also `Nats-Msg-Id` and the outbox task id).
    pub id: String,
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// The payload.
    pub data: T,
}

/// The `data` of `send_award` (and of `deliver_external`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAward {
    /// The user.
    pub user_id: String,
    /// The raffle order.
    pub order_id: String,
    /// The award.
    pub award_id: i32,
    /// How the award is distributed (`user_credit_random`, `openai_use_count`, …).
    pub award_key: String,
    /// The award title.
    pub award_title: String,
    /// The effective award config (e.g. `1,100`).
    pub award_config: String,
}

/// The `data` of `credit_adjust_success`: a credit trade was booked (spec §7.2). Published
/// only for trades that committed (spec §14 bug 5), once per trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditAdjustSuccess {
    /// The user.
    pub user_id: String,
    /// The credit order id (the ledger row).
    pub order_id: String,
    /// The caller's idempotency key of the trade.
    pub out_business_no: String,
    /// `forward` or `reverse`.
    pub trade_type: String,
    /// The traded amount, positive, as a decimal string (the direction is `trade_type`).
    pub amount: rust_decimal::Decimal,
}

/// Why a publish failed (NATS down, no ack in time, stream refused it).
#[derive(Debug, thiserror::Error)]
#[error("publish to {subject} failed: {reason}")]
pub struct PublishError {
    /// The subject.
    pub subject: String,
    /// What went wrong.
    pub reason: String,
}

/// Publishes to JetStream and waits for the stream's ack.
#[derive(Debug, Clone)]
pub struct Publisher {
    jetstream: jetstream::Context,
    timeout: Duration,
}

impl Publisher {
    /// A publisher that gives up on an ack after `timeout`.
    pub fn new(jetstream: jetstream::Context, timeout: Duration) -> Self {
        Self { jetstream, timeout }
    }

    /// Publishes `payload` on `subject` with `Nats-Msg-Id = message_id` (the stream drops a
    /// repeat inside its de-duplication window) and waits for the ack.
    pub async fn publish(&self, subject: &str, message_id: &str, payload: Vec<u8>) -> Result<(), PublishError> {
        bm_server::events::publish_raw_within(&self.jetstream, subject, message_id, payload, self.timeout)
            .await
            .map_err(|reason| PublishError { subject: subject.to_owned(), reason })
    }
}

/// The `data` of activity-quota's `send_rebate` (`<subject_prefix>.activity.send_rebate` on
/// `<stream_prefix>_ACTIVITY`): one rebate order of a user's behaviour. Award handles the
/// `integral` ones (a forward credit trade); activity-quota handles the `sku` ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRebate {
    /// The user.
    pub user_id: String,
    /// The rebate order id.
    pub order_id: String,
    /// The behaviour rebated (`sign`, `openai_pay`).
    pub behavior_type: String,
    /// `sku` or `integral`.
    pub rebate_type: String,
    /// A sku id (`sku`) or a credit amount (`integral`).
    pub rebate_config: String,
    /// The rebate's description.
    #[serde(default)]
    pub rebate_desc: String,
    /// `<user_id>_<rebate_type>_<out_business_no>`: the credit trade's out_business_no.
    pub biz_id: String,
    /// The behaviour's business number.
    #[serde(default)]
    pub out_business_no: String,
}
