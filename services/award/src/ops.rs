//! The award service's side of `bigmarket.ops.v1.OpsService` (docs/award.md, "Parked
//! messages"): a parked send_award is re-driven through the outbox, from the award record.
//!
//! Re-driving un-parks the record (`parked` → `create`) and queues a fresh send_award task
//! built from the record as it now is (an operator may have corrected its config), in the
//! transaction that removes the parked message. The relay then publishes it like any other
//! task (`Nats-Msg-Id` = the task id `redrive-award-<parked id>`), and the distributor
//! handles it once per order as always: nothing is lost if NATS is down at that moment, and
//! nothing is distributed twice.

use bm_server::ops::{Backlog, ParkedMessage, RedriveError, ServiceOps};
use std::sync::Arc;

use bm_kernel::Clock;
use sqlx::PgConnection;

use crate::{
    events::{Envelope, SendAward},
    storage::AwardStore,
};

/// The award service's operations.
#[derive(Debug, Clone)]
pub struct AwardOps {
    store: AwardStore,
    clock: Arc<dyn Clock>,
}

impl AwardOps {
    /// Operations over `store`, stamping re-driven messages with `clock`.
    pub fn new(store: AwardStore, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

#[tonic::async_trait]
impl ServiceOps for AwardOps {
    async fn redrive(&self, tx: &mut PgConnection, message: &ParkedMessage) -> Result<(), RedriveError> {
        let task_id = format!("redrive-award-{}", message.id);
        let (user_id, payload) = match serde_json::from_str::<Envelope<SendAward>>(&message.payload) {
            Ok(envelope) => {
                let record: Option<(i32, String, String, String)> = sqlx::query_as(
                    "UPDATE user_award_record SET award_state = 'create', parked_reason = NULL, updated_at = now() \
                     WHERE user_id = $1 AND order_id = $2 AND award_state = 'parked' \
                     RETURNING award_id, award_key, award_title, award_config",
                )
                .bind(&envelope.data.user_id)
                .bind(&envelope.data.order_id)
                .fetch_optional(&mut *tx)
                .await?;
                let mut data = envelope.data;
                if let Some((award_id, award_key, award_title, award_config)) = record {
                    (data.award_id, data.award_key, data.award_title, data.award_config) =
                        (award_id, award_key, award_title, award_config);
                }
                let user_id = data.user_id.clone();
                let envelope = Envelope { id: task_id.clone(), timestamp: self.clock.now().timestamp_millis(), data };
                let payload = serde_json::to_string(&envelope)
                    .map_err(|e| RedriveError::Refused(format!("cannot encode the send_award: {e}")))?;
                (user_id, payload)
            }
            // Not a send_award envelope: hand it back as it was (it will be parked again
            // unless the consumer learnt to read it); it must be JSON to sit in the outbox.
            Err(_) if serde_json::from_str::<serde_json::Value>(&message.payload).is_ok() => {
                (String::new(), message.payload.clone())
            }
            Err(error) => {
                return Err(RedriveError::Refused(format!("the payload is not JSON ({error}); discard it instead")));
            }
        };
        sqlx::query(
            "INSERT INTO outbox_task (id, user_id, subject, payload, next_attempt_at) \
             VALUES ($1, $2, $3, $4::json, now()) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&task_id)
        .bind(user_id)
        .bind(&message.subject)
        .bind(&payload)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> Result<Option<Backlog>, String> {
        let (pending, oldest_pending_seconds) =
            self.store.outbox().backlog().await.map_err(|e| bm_status::ErrorChain(&e).to_string())?;
        Ok(Some(Backlog { pending, oldest_pending_seconds }))
    }
}
