//! The outbox relay (spec §6.3, fixing §14 bug 9): claims due tasks with real timestamps,
//! publishes them, and retries failures with capped exponential backoff, for ever.

use futures_util::future::join_all;

use super::{AwardError, AwardUseCases};
use crate::domain::retry_delay;

/// Attempts after which every further failure of a task is logged as an error.
const ALERT_AFTER_ATTEMPTS: i32 = 10;

/// What one relay round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayRound {
    /// Tasks claimed.
    pub claimed: usize,
    /// Tasks JetStream acknowledged.
    pub published: usize,
}

impl AwardUseCases {
    /// One round: claim a batch of due tasks, publish them side by side (a broker outage
    /// costs one publish timeout per round, not one per task), record each outcome.
    #[tracing::instrument(name = "award.outbox.relay", skip_all, fields(claimed))]
    pub async fn relay_once(&self) -> Result<RelayRound, AwardError> {
        let lease_until = self.after(self.timing.lease);
        let tasks = self.store.claim_due_tasks(self.now(), lease_until, self.timing.batch).await?;
        tracing::Span::current().record("claimed", tasks.len());
        if tasks.is_empty() {
            return Ok(RelayRound::default());
        }
        let outcomes = join_all(
            tasks.iter().map(|task| self.publisher.publish(&task.subject, &task.id, task.payload.clone().into_bytes())),
        )
        .await;
        let mut round = RelayRound { claimed: tasks.len(), published: 0 };
        for (task, outcome) in tasks.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    self.store.complete_task(&task.id).await?;
                    round.published += 1;
                }
                Err(error) => {
                    let attempts = u32::try_from(task.attempts).unwrap_or(0);
                    let next = self.after(retry_delay(attempts, self.timing.retry_base, self.timing.retry_max));
                    if task.attempts >= ALERT_AFTER_ATTEMPTS {
                        tracing::error!(task_id = %task.id, attempts, %error, "outbox task keeps failing; retrying at the cap");
                    } else {
                        tracing::warn!(task_id = %task.id, attempts, %error, "outbox task not published; retrying");
                    }
                    self.store.fail_task(&task.id, &error.to_string(), next).await?;
                }
            }
        }
        if round.published > 0 {
            tracing::info!(published = round.published, "outbox tasks relayed");
        }
        Ok(round)
    }
}
