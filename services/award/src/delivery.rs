//! The pluggable delivery step for awards another system fulfils (`openai_use_count`,
//! `openai_model`). The award ends `completed` once the step succeeds.

use std::{future::Future, pin::Pin};

use crate::events::{Envelope, PublishError, Publisher, SendAward};

/// What [`ExternalDelivery::deliver`] returns (boxed, so the step can be a trait object).
pub type DeliveryFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>>;

/// Hands an award to the system that fulfils it. Must be idempotent per order: the
/// distributor calls it again when a send_award message is redelivered.
pub trait ExternalDelivery: Send + Sync + std::fmt::Debug {
    /// Delivers `award`; `Ok` means the external system has it (or will get it durably).
    fn deliver<'a>(&'a self, award: &'a Envelope<SendAward>) -> DeliveryFuture<'a>;
}

/// Publishes the award as `<subject_prefix>.award.deliver_external` (same envelope as
/// send_award) for the external system's own durable consumer.
#[derive(Debug, Clone)]
pub struct NatsExternalDelivery {
    publisher: Publisher,
    subject: String,
}

impl NatsExternalDelivery {
    /// Publishes on `subject` through `publisher`.
    pub fn new(publisher: Publisher, subject: String) -> Self {
        Self { publisher, subject }
    }

    /// The `Nats-Msg-Id` of an order's delivery: derived from the order, so every retry of
    /// one award is de-duplicated by the stream.
    pub fn message_id(order_id: &str) -> String {
        format!("deliver_external:{order_id}")
    }
}

impl ExternalDelivery for NatsExternalDelivery {
    fn deliver<'a>(&'a self, award: &'a Envelope<SendAward>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let payload = serde_json::to_vec(award)
                .map_err(|e| PublishError { subject: self.subject.clone(), reason: e.to_string() })?;
            self.publisher.publish(&self.subject, &Self::message_id(&award.data.order_id), payload).await
        })
    }
}
