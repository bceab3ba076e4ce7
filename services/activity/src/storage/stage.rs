//! The activity stage in Postgres (`raffle_activity_stage`, migration 0002).

use chrono::{DateTime, Utc};

use super::ActivityStore;
use crate::{
    domain::{Stage, StageKey, StageState},
    usecase::ActivityError,
};

/// What putting an activity on a stage did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePut {
    /// The active stage of the channel and source now.
    pub stage: Stage,
    /// The stage this put expired (another activity was shown there).
    pub replaced: Option<Stage>,
    /// False when the activity was shown there already: nothing was written.
    pub changed: bool,
}

#[derive(sqlx::FromRow)]
struct StageRow {
    id: i64,
    channel: String,
    source: String,
    activity_id: i64,
    state: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<StageRow> for Stage {
    type Error = ActivityError;

    fn try_from(row: StageRow) -> Result<Self, Self::Error> {
        let state = StageState::parse(&row.state).ok_or_else(|| {
            ActivityError::Database(sqlx::Error::Decode(format!("unknown stage state {:?}", row.state).into()))
        })?;
        Ok(Self {
            id: row.id,
            channel: row.channel,
            source: row.source,
            activity_id: row.activity_id,
            state,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const STAGE_COLUMNS: &str = "id, channel, source, activity_id, state, created_at, updated_at";

impl ActivityStore {
    /// Shows `activity_id` on the stage `key` in one transaction: the active stage there is
    /// expired and a new active row is inserted; nothing is written when `activity_id` is
    /// active there already.
    #[tracing::instrument(name = "db.raffle_activity_stage.put", skip_all, fields(stage = %key, activity_id))]
    pub async fn put_on_stage(&self, key: &StageKey, activity_id: i64) -> Result<StagePut, ActivityError> {
        let mut tx = self.pool().begin().await?;
        // Serialise the puts of one channel and source. A row lock is not enough: a put
        // waiting on the active row finds it expired once it gets it, sees no active row, and
        // its insert would then collide with the winner's (uq_stage_active).
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("raffle_activity_stage:{key}"))
            .execute(&mut *tx)
            .await?;
        let active: Option<StageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {STAGE_COLUMNS} FROM raffle_activity_stage WHERE channel = $1 AND source = $2 AND state = 'active'"
        )))
        .bind(key.channel.as_str())
        .bind(key.source.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(active) = active {
            if active.activity_id == activity_id {
                return Ok(StagePut { stage: active.try_into()?, replaced: None, changed: false });
            }
            let expired: StageRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE raffle_activity_stage SET state = 'expire', updated_at = now() WHERE id = $1 \
                 RETURNING {STAGE_COLUMNS}"
            )))
            .bind(active.id)
            .fetch_one(&mut *tx)
            .await?;
            let stage = insert_active(&mut tx, key, activity_id).await?;
            tx.commit().await?;
            return Ok(StagePut { stage, replaced: Some(expired.try_into()?), changed: true });
        }
        let stage = insert_active(&mut tx, key, activity_id).await?;
        tx.commit().await?;
        Ok(StagePut { stage, replaced: None, changed: true })
    }

    /// The activity shown on the stage `key`, if any.
    pub async fn stage_activity(&self, key: &StageKey) -> Result<Option<i64>, ActivityError> {
        Ok(sqlx::query_scalar(
            "SELECT activity_id FROM raffle_activity_stage WHERE channel = $1 AND source = $2 AND state = 'active'",
        )
        .bind(key.channel.as_str())
        .bind(key.source.as_str())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Stages, newest first (the original's queryStageActivityList), optionally in one state,
    /// at most `limit`.
    pub async fn list_stages(&self, state: Option<StageState>, limit: u32) -> Result<Vec<Stage>, ActivityError> {
        let rows: Vec<StageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {STAGE_COLUMNS} FROM raffle_activity_stage WHERE $1::VARCHAR IS NULL OR state = $1 \
             ORDER BY id DESC LIMIT $2"
        )))
        .bind(state.map(StageState::as_str))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Stage::try_from).collect()
    }
}

async fn insert_active(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    key: &StageKey,
    activity_id: i64,
) -> Result<Stage, ActivityError> {
    let row: StageRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO raffle_activity_stage (channel, source, activity_id, state) VALUES ($1, $2, $3, 'active') \
         RETURNING {STAGE_COLUMNS}"
    )))
    .bind(key.channel.as_str())
    .bind(key.source.as_str())
    .bind(activity_id)
    .fetch_one(&mut **tx)
    .await?;
    row.try_into()
}
