//! `outbox_task`: written with its award record or credit trade, published after commit,
//! relayed until JetStream acknowledges it. The table's rules live in the shared
//! [`bm_server::outbox`]; these are the award store's handles on it.

use bm_server::outbox::OutboxStore;
pub use bm_server::outbox::{ClaimedTask, NewTask};
use chrono::{DateTime, Utc};

use super::AwardStore;
use crate::usecase::AwardError;

impl AwardStore {
    /// The award database's outbox.
    pub fn outbox(&self) -> OutboxStore {
        OutboxStore::new(self.pool.clone())
    }

    /// See [`OutboxStore::claim_due`].
    pub async fn claim_due_tasks(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedTask>, AwardError> {
        Ok(self.outbox().claim_due(now, lease_until, limit).await?)
    }

    /// See [`OutboxStore::complete`].
    pub async fn complete_task(&self, id: &str) -> Result<(), AwardError> {
        Ok(self.outbox().complete(id).await?)
    }

    /// See [`OutboxStore::fail`].
    pub async fn fail_task(&self, id: &str, error: &str, next_attempt_at: DateTime<Utc>) -> Result<(), AwardError> {
        Ok(self.outbox().fail(id, error, next_attempt_at).await?)
    }
}
