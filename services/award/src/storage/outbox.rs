//! `outbox_task`: written with its award record or credit trade, published after commit,
//! relayed until JetStream acknowledges it.

use chrono::{DateTime, Utc};

use super::AwardStore;
use crate::usecase::AwardError;

/// An outbox task to insert.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// The message id (`Nats-Msg-Id`).
    pub id: String,
    /// The user (routing key).
    pub user_id: String,
    /// Where to publish.
    pub subject: String,
    /// The exact JSON to publish.
    pub payload: String,
    /// When the relay may first pick it (the RPC publishes it before that).
    pub next_attempt_at: DateTime<Utc>,
}

/// A task claimed by the relay.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedTask {
    /// The message id.
    pub id: String,
    /// Where to publish.
    pub subject: String,
    /// The JSON to publish.
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

impl AwardStore {
    /// Inserts `task` inside `tx` (with the business rows it announces).
    pub(super) async fn enqueue_in(tx: &mut sqlx::PgConnection, task: &NewTask) -> Result<(), AwardError> {
        sqlx::query(
            "INSERT INTO outbox_task (id, user_id, subject, payload, next_attempt_at) VALUES ($1, $2, $3, $4::json, $5)",
        )
        .bind(&task.id)
        .bind(&task.user_id)
        .bind(&task.subject)
        .bind(&task.payload)
        .bind(task.next_attempt_at)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Tasks JetStream has not acknowledged yet (`pending` or `failed`) and the age in
    /// seconds of the oldest (0 without any), by the database clock.
    pub async fn outbox_backlog(&self) -> Result<(i64, f64), AwardError> {
        Ok(sqlx::query_as(
            "SELECT count(*), COALESCE(extract(epoch FROM now() - min(created_at)), 0)::DOUBLE PRECISION \
             FROM outbox_task WHERE state IN ('pending', 'failed')",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Claims up to `limit` due tasks (`pending` or `failed` with `next_attempt_at <= now`):
    /// counts the attempt and moves `next_attempt_at` to `lease_until`, so no other relay
    /// (replica) takes them meanwhile and a relay that dies releases them when the lease ends.
    /// `SKIP LOCKED` lets replicas claim side by side without waiting on each other.
    #[tracing::instrument(name = "db.outbox.claim", skip_all)]
    pub async fn claim_due_tasks(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedTask>, AwardError> {
        Ok(sqlx::query_as(
            "UPDATE outbox_task t SET attempts = t.attempts + 1, next_attempt_at = $2, updated_at = now() \
             FROM (SELECT id FROM outbox_task \
                   WHERE state IN ('pending', 'failed') AND next_attempt_at <= $1 \
                   ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due \
             WHERE t.id = due.id \
             RETURNING t.id, t.subject, t.payload::text AS payload, t.attempts",
        )
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// JetStream acknowledged the task.
    pub async fn complete_task(&self, id: &str) -> Result<(), AwardError> {
        sqlx::query(
            "UPDATE outbox_task SET state = 'completed', updated_at = now() WHERE id = $1 AND state <> 'completed'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The RPC's own publish after commit failed: the task stays `pending` with the error,
    /// for the relay from `next_attempt_at`.
    pub async fn note_publish_failure(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), AwardError> {
        sqlx::query(
            "UPDATE outbox_task SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, updated_at = now() \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(error)
        .bind(next_attempt_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A relay attempt failed: `failed`, retried from `next_attempt_at`.
    pub async fn fail_task(&self, id: &str, error: &str, next_attempt_at: DateTime<Utc>) -> Result<(), AwardError> {
        sqlx::query(
            "UPDATE outbox_task SET state = 'failed', last_error = $2, next_attempt_at = $3, updated_at = now() \
             WHERE id = $1 AND state IN ('pending', 'failed')",
        )
        .bind(id)
        .bind(error)
        .bind(next_attempt_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
