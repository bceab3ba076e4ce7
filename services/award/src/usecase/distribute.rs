//! distributeAward (spec §6.2, fixing §14 bug 8): hand out the award a send_award message
//! names, exactly once per order, and say how to acknowledge the message. No failure is
//! swallowed: it is retried, or parked where an operator lists it.

use std::time::Duration;

use rust_decimal::Decimal;

use super::{AwardError, AwardUseCases};
use crate::{
    domain::{AwardState, CreditRange, Delivery},
    events::{Envelope, SendAward},
    storage::Completion,
};

/// What distributing an award did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distributed {
    /// `user_credit_random`: credited this amount now.
    Credited(Decimal),
    /// Handed to the external delivery step, and completed.
    Delivered,
    /// The record was completed before (a redelivery); nothing changed.
    AlreadyCompleted,
    /// The record is parked; an operator owns it.
    AlreadyParked,
}

/// How to acknowledge a send_award message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledge {
    /// Done (or done before).
    Ack,
    /// Parked: never redeliver.
    Term,
    /// Retry after this delay.
    Nak(Duration),
}

impl From<Completion> for Distributed {
    fn from(completion: Completion) -> Self {
        match completion {
            Completion::Completed => Self::Delivered,
            Completion::AlreadyCompleted => Self::AlreadyCompleted,
            Completion::Parked => Self::AlreadyParked,
        }
    }
}

impl AwardUseCases {
    /// Distributes the award of `envelope` by its key.
    #[tracing::instrument(name = "award.distribute", skip_all,
        fields(user_id = %envelope.data.user_id, order_id = %envelope.data.order_id, award_key = %envelope.data.award_key))]
    pub async fn distribute(&self, envelope: &Envelope<SendAward>) -> Result<Distributed, AwardError> {
        let award = &envelope.data;
        let delivery =
            Delivery::of(&award.award_key).ok_or_else(|| AwardError::UnknownAwardKey(award.award_key.clone()))?;
        match delivery {
            Delivery::RandomCredit => {
                let range = CreditRange::parse(&award.award_config)?;
                let amount = range.draw(self.random.as_ref());
                let credit_order_id = uuid::Uuid::new_v4().simple().to_string();
                let completion =
                    self.store.credit_award(&award.user_id, &award.order_id, &credit_order_id, amount).await?;
                Ok(match completion {
                    Completion::Completed => Distributed::Credited(amount),
                    other => other.into(),
                })
            }
            Delivery::External => match self.store.award_state(&award.user_id, &award.order_id).await? {
                None => {
                    Err(AwardError::RecordMissing { user_id: award.user_id.clone(), order_id: award.order_id.clone() })
                }
                Some(AwardState::Completed) => Ok(Distributed::AlreadyCompleted),
                Some(AwardState::Parked) => Ok(Distributed::AlreadyParked),
                Some(AwardState::Create) => {
                    self.delivery.deliver(envelope).await?;
                    Ok(self.store.complete_record(&award.user_id, &award.order_id).await?.into())
                }
            },
        }
    }

    /// Handles one delivery of a send_award message: distributes it, and decides the ack.
    /// A permanent failure (unknown key, malformed config, no record, bad payload) parks the
    /// message at once; a transient one (database, NATS) is retried with backoff and parked
    /// after `max_deliveries`. A message is only terminated once it is parked.
    pub async fn handle_send_award(
        &self,
        subject: &str,
        payload: &str,
        deliveries: i64,
        max_deliveries: i64,
    ) -> Acknowledge {
        let envelope: Result<Envelope<SendAward>, String> = serde_json::from_str(payload).map_err(|e| e.to_string());
        let result = match &envelope {
            Ok(envelope) => self.distribute(envelope).await,
            Err(reason) => Err(AwardError::BadPayload(reason.clone())),
        };
        let error = match result {
            Ok(distributed) => {
                tracing::info!(?distributed, "send_award handled");
                return Acknowledge::Ack;
            }
            Err(error) => error,
        };
        let reason = bm_status::ErrorChain(&error).to_string();
        if !error.is_permanent() && deliveries < max_deliveries {
            tracing::warn!(%reason, deliveries, "send_award failed; redelivering");
            return Acknowledge::Nak(redelivery_delay(deliveries));
        }
        let order = envelope.as_ref().ok().map(|e| (e.data.user_id.as_str(), e.data.order_id.as_str()));
        match self.store.park(subject, payload, &reason, deliveries, order).await {
            Ok(()) => {
                tracing::error!(%reason, deliveries, user_id = ?order.map(|o| o.0), order_id = ?order.map(|o| o.1), "send_award parked");
                Acknowledge::Term
            }
            Err(park) => {
                tracing::error!(%reason, error = %bm_status::ErrorChain(&park), "cannot park send_award; redelivering");
                Acknowledge::Nak(redelivery_delay(deliveries))
            }
        }
    }
}

/// 2, 4, 8, … 32 seconds.
fn redelivery_delay(deliveries: i64) -> Duration {
    Duration::from_secs(1 << deliveries.clamp(1, 5))
}
