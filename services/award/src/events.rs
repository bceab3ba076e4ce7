//! The `send_award` and `credit_adjust_success` events (ARCHITECTURE.md §5, docs/award.md) and
//! JetStream publishing with `Nats-Msg-Id`.

use std::time::Duration;

use async_nats::jetstream;
use serde::{Deserialize, Serialize};

/// The event envelope of ARCHITECTURE.md §5 (its id is also the outbox task id).
pub use bm_server::events::Envelope;

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

pub use bm_server::payloads::CreditAdjustSuccess;

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

pub use bm_server::payloads::SendRebate;
