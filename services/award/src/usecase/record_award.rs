//! RecordAward (spec §6.1 step 5, ARCHITECTURE.md §4 step 3): the award record and its
//! send_award outbox task in one statement, then the publish after commit — in the
//! background, so the caller does not wait for JetStream.

use bm_kernel::{OrderId, UserId};

use super::{AwardError, AwardUseCases};
use crate::{
    events::{Envelope, SendAward},
    storage::{NewAwardRecord, Recorded},
};

/// A validated RecordAward request.
#[derive(Debug, Clone)]
pub struct RecordAwardCommand {
    /// The user.
    pub user_id: UserId,
    /// The activity (> 0).
    pub activity_id: i64,
    /// The strategy (> 0).
    pub strategy_id: i64,
    /// The raffle order, the idempotency key.
    pub order_id: OrderId,
    /// The award (> 0).
    pub award_id: i32,
    /// The distribution key (non-empty).
    pub award_key: String,
    /// The title (non-empty).
    pub award_title: String,
    /// The effective config.
    pub award_config: String,
}

/// What RecordAward did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedAward {
    /// The order was recorded before; nothing was written.
    pub duplicate: bool,
}

impl AwardUseCases {
    /// Records the award once per order and answers once the record and its send_award task
    /// are committed; the task is published after that in the background (a failure there
    /// is not the call's: the relay delivers the task).
    #[tracing::instrument(name = "award.record", skip_all, fields(user_id = %command.user_id, order_id = %command.order_id))]
    pub async fn record_award(&self, command: RecordAwardCommand) -> Result<RecordedAward, AwardError> {
        let now = self.now();
        let envelope = Envelope {
            id: uuid::Uuid::new_v4().simple().to_string(),
            timestamp: now.timestamp_millis(),
            data: SendAward {
                user_id: command.user_id.to_string(),
                order_id: command.order_id.to_string(),
                award_id: command.award_id,
                award_key: command.award_key.clone(),
                award_title: command.award_title.clone(),
                award_config: command.award_config.clone(),
            },
        };
        let payload =
            serde_json::to_string(&envelope).map_err(|e| AwardError::Corrupt(format!("send_award payload: {e}")))?;
        let task = self.outbox.task(
            envelope.id.clone(),
            envelope.data.user_id.clone(),
            self.subjects.send_award.clone(),
            payload,
        );
        let record = NewAwardRecord {
            user_id: command.user_id.into_inner(),
            order_id: command.order_id.into_inner(),
            activity_id: command.activity_id,
            strategy_id: command.strategy_id,
            award_id: command.award_id,
            award_key: command.award_key,
            award_title: command.award_title,
            award_config: command.award_config,
            award_time: now,
        };
        if self.store.record_award(&record, &task).await? == Recorded::Duplicate {
            tracing::info!("award already recorded");
            return Ok(RecordedAward { duplicate: true });
        }
        self.outbox.publish_committed_later(&self.background, task);
        Ok(RecordedAward { duplicate: false })
    }
}
