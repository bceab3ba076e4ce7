//! `user_award_record` and `parked_message`.

use chrono::{DateTime, Utc};

use super::{AwardStore, NewTask, int};
use crate::{domain::AwardState, usecase::AwardError};

/// An award record to insert.
#[derive(Debug, Clone)]
pub struct NewAwardRecord {
    /// The user.
    pub user_id: String,
    /// The raffle order (idempotency key).
    pub order_id: String,
    /// The activity.
    pub activity_id: i64,
    /// The strategy.
    pub strategy_id: i64,
    /// The award.
    pub award_id: i32,
    /// The distribution key.
    pub award_key: String,
    /// The title.
    pub award_title: String,
    /// The effective config.
    pub award_config: String,
    /// When it was won.
    pub award_time: DateTime<Utc>,
}

/// What `record_award` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The record and its outbox task were written.
    New,
    /// The order was recorded before (same user); nothing was written.
    Duplicate,
}

/// What completing (or crediting) a record found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The record moved `create → completed` now.
    Completed,
    /// It was completed before (a redelivery).
    AlreadyCompleted,
    /// It is parked; an operator owns it.
    Parked,
}

/// One award record as listed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AwardRecordView {
    /// The raffle order.
    pub order_id: String,
    /// The award.
    pub award_id: i32,
    /// The title.
    pub award_title: String,
    /// `create`, `completed` or `parked`.
    pub award_state: String,
    /// Why it is parked, if it is.
    pub parked_reason: Option<String>,
    /// When it was won.
    pub award_time: DateTime<Utc>,
}

impl AwardStore {
    /// Inserts the record and its outbox task atomically, once per order.
    ///
    /// One statement (a data-modifying CTE is atomic with its statement): the task is
    /// inserted only with the record, in one round trip instead of BEGIN, two INSERTs and
    /// COMMIT (docs/BENCHMARKS.md).
    #[tracing::instrument(name = "db.award_record.insert", skip_all, fields(user_id = %record.user_id, order_id = %record.order_id))]
    pub async fn record_award(&self, record: &NewAwardRecord, task: &NewTask) -> Result<Recorded, AwardError> {
        let inserted = sqlx::query(
            "WITH record AS ( \
                 INSERT INTO user_award_record (user_id, order_id, activity_id, strategy_id, award_id, award_key, \
                                                award_title, award_config, award_time) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING order_id) \
             INSERT INTO outbox_task (id, user_id, subject, payload, next_attempt_at) \
             SELECT $10, $11, $12, $13::json, $14 FROM record",
        )
        .bind(&record.user_id)
        .bind(&record.order_id)
        .bind(record.activity_id)
        .bind(record.strategy_id)
        .bind(record.award_id)
        .bind(&record.award_key)
        .bind(&record.award_title)
        .bind(&record.award_config)
        .bind(record.award_time)
        .bind(&task.id)
        .bind(&task.user_id)
        .bind(&task.subject)
        .bind(&task.payload)
        .bind(task.next_attempt_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 0 {
            let owner: Option<(String,)> = sqlx::query_as("SELECT user_id FROM user_award_record WHERE order_id = $1")
                .bind(&record.order_id)
                .fetch_optional(&self.pool)
                .await?;
            return match owner {
                Some((user_id,)) if user_id == record.user_id => Ok(Recorded::Duplicate),
                Some(_) => Err(AwardError::OrderTaken { order_id: record.order_id.clone() }),
                None => Err(AwardError::Corrupt(format!("order {} conflicted but has no record", record.order_id))),
            };
        }
        Ok(Recorded::New)
    }

    /// Moves a record `create → completed` (a delivery that needs no credit).
    #[tracing::instrument(name = "db.award_record.complete", skip_all, fields(user_id, order_id))]
    pub async fn complete_record(&self, user_id: &str, order_id: &str) -> Result<Completion, AwardError> {
        let mut tx = self.pool.begin().await?;
        let completion = Self::complete_in(&mut tx, user_id, order_id).await?;
        tx.commit().await?;
        Ok(completion)
    }

    /// `create → completed` inside `tx`; when no row moved, says why.
    pub(super) async fn complete_in(
        tx: &mut sqlx::PgConnection,
        user_id: &str,
        order_id: &str,
    ) -> Result<Completion, AwardError> {
        let moved = sqlx::query(
            "UPDATE user_award_record SET award_state = 'completed', updated_at = now() \
             WHERE user_id = $1 AND order_id = $2 AND award_state = 'create'",
        )
        .bind(user_id)
        .bind(order_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 1 {
            return Ok(Completion::Completed);
        }
        Self::unmoved(tx, user_id, order_id).await
    }

    /// Why a record did not move `create → completed`.
    pub(super) async fn unmoved(
        tx: &mut sqlx::PgConnection,
        user_id: &str,
        order_id: &str,
    ) -> Result<Completion, AwardError> {
        match Self::state_in(tx, user_id, order_id).await? {
            Some(AwardState::Completed) => Ok(Completion::AlreadyCompleted),
            Some(AwardState::Parked) => Ok(Completion::Parked),
            Some(AwardState::Create) => Err(AwardError::Corrupt(format!("order {order_id} stayed in create"))),
            None => Err(AwardError::RecordMissing { user_id: user_id.to_owned(), order_id: order_id.to_owned() }),
        }
    }

    /// The state of a record; `None` when there is none.
    pub async fn award_state(&self, user_id: &str, order_id: &str) -> Result<Option<AwardState>, AwardError> {
        let mut connection = self.pool.acquire().await?;
        Self::state_in(&mut connection, user_id, order_id).await
    }

    async fn state_in(
        connection: &mut sqlx::PgConnection,
        user_id: &str,
        order_id: &str,
    ) -> Result<Option<AwardState>, AwardError> {
        let state: Option<(String,)> =
            sqlx::query_as("SELECT award_state FROM user_award_record WHERE user_id = $1 AND order_id = $2")
                .bind(user_id)
                .bind(order_id)
                .fetch_optional(connection)
                .await?;
        state
            .map(|(state,)| match state.as_str() {
                "create" => Ok(AwardState::Create),
                "completed" => Ok(AwardState::Completed),
                "parked" => Ok(AwardState::Parked),
                other => Err(AwardError::Corrupt(format!("award_state {other:?}"))),
            })
            .transpose()
    }

    /// A user's records on an activity, newest first.
    #[tracing::instrument(name = "db.award_record.list", skip_all, fields(user_id, activity_id))]
    pub async fn list_awards(&self, user_id: &str, activity_id: i64) -> Result<Vec<AwardRecordView>, AwardError> {
        Ok(sqlx::query_as(
            "SELECT order_id, award_id, award_title, award_state, parked_reason, award_time FROM user_award_record \
             WHERE user_id = $1 AND activity_id = $2 ORDER BY award_time DESC, order_id DESC",
        )
        .bind(user_id)
        .bind(activity_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Keeps a message the distributor cannot handle, and parks its record (when the
    /// message named one still in `create`) with the same reason, in one transaction.
    #[tracing::instrument(name = "db.award_record.park", skip_all, fields(user_id, order_id))]
    pub async fn park(
        &self,
        subject: &str,
        payload: &str,
        reason: &str,
        deliveries: i64,
        order: Option<(&str, &str)>,
    ) -> Result<(), AwardError> {
        let mut tx = self.pool.begin().await?;
        if let Some((user_id, order_id)) = order {
            sqlx::query(
                "UPDATE user_award_record SET award_state = 'parked', parked_reason = $3, updated_at = now() \
                 WHERE user_id = $1 AND order_id = $2 AND award_state = 'create'",
            )
            .bind(user_id)
            .bind(order_id)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO parked_message (subject, payload, error, deliveries, user_id, order_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(subject)
        .bind(payload)
        .bind(reason)
        .bind(int(deliveries))
        .bind(order.map(|(user_id, _)| user_id))
        .bind(order.map(|(_, order_id)| order_id))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
