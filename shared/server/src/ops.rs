//! `bigmarket.ops.v1.OpsService`, served by every stateful service: its parked (dead-lettered)
//! messages — list, re-drive, discard — and its outbox backlog (docs/operations.md).
//!
//! Every service keeps parked messages in its own `parked_message` table (id, subject,
//! payload, error, deliveries, parked_at). A re-drive locks the row, hands the message back
//! ([`ServiceOps::redrive`]: by default a publish on its subject with a `Nats-Msg-Id` derived
//! from the row, so a repeated re-drive of the same row is stored once by JetStream) and
//! deletes the row, all in one transaction: a message is never both re-driven and still
//! listed, and two operators re-driving the same row at once re-drive it once.

use std::sync::Arc;

use async_nats::jetstream;
use bm_api::ops::{self as pb, ops_service_server::OpsService};
use bm_status::{ErrorCode, invalid_argument, to_status};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};

/// The full proto name of the service.
pub const SERVICE_NAME: &str = "bigmarket.ops.v1.OpsService";

/// The most messages one call lists.
const MAX_LIST: u32 = 1000;
/// The most messages one call re-drives.
const MAX_BATCH: i64 = 1000;

/// A parked message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ParkedMessage {
    /// Row id.
    pub id: i64,
    /// Subject it was published on.
    pub subject: String,
    /// Payload as published.
    pub payload: String,
    /// Error of the last delivery.
    pub error: String,
    /// Deliveries tried.
    pub deliveries: i32,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
}

/// The outbox backlog of a service: tasks not yet published, and the oldest one's age.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    /// Tasks not yet published.
    pub pending: i64,
    /// Seconds the oldest of them has waited.
    pub oldest_pending_seconds: f64,
}

/// Why a re-drive failed.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    /// The database failed.
    #[error("database")]
    Database(#[from] sqlx::Error),
    /// The message could not be handed back (e.g. NATS is down).
    #[error("cannot hand the message back: {0}")]
    Unavailable(String),
    /// The message can never be handed back as it is (e.g. its payload is not JSON).
    #[error("{0}")]
    Refused(String),
}

/// What differs between services.
#[tonic::async_trait]
pub trait ServiceOps: Send + Sync + std::fmt::Debug + 'static {
    /// Hands `message` back to its consumer, inside `tx` (the row is locked and is deleted
    /// after this returns, in the same transaction).
    async fn redrive(&self, tx: &mut PgConnection, message: &ParkedMessage) -> Result<(), RedriveError>;

    /// The outbox backlog, or `None` for a service without an outbox.
    async fn outbox_backlog(&self) -> Result<Option<Backlog>, String> {
        Ok(None)
    }
}

/// The default re-drive: publish the payload again on its subject.
#[derive(Debug, Clone)]
pub struct PublishAgain {
    jetstream: jetstream::Context,
    service: &'static str,
    outbox: Option<crate::outbox::OutboxStore>,
}

impl PublishAgain {
    /// Re-drives through `jetstream`; `service` names the message ids (`redrive-<service>-<id>`).
    pub fn new(jetstream: jetstream::Context, service: &'static str) -> Self {
        Self { jetstream, service, outbox: None }
    }

    /// Reports the backlog of `outbox` (a service with a transactional outbox).
    #[must_use]
    pub fn with_outbox(self, outbox: crate::outbox::OutboxStore) -> Self {
        Self { outbox: Some(outbox), ..self }
    }
}

#[tonic::async_trait]
impl ServiceOps for PublishAgain {
    async fn redrive(&self, _tx: &mut PgConnection, message: &ParkedMessage) -> Result<(), RedriveError> {
        let message_id = format!("redrive-{}-{}", self.service, message.id);
        crate::events::publish_raw(&self.jetstream, &message.subject, &message_id, message.payload.clone().into_bytes())
            .await
            .map_err(RedriveError::Unavailable)
    }

    async fn outbox_backlog(&self) -> Result<Option<Backlog>, String> {
        let Some(outbox) = &self.outbox else { return Ok(None) };
        let (pending, oldest_pending_seconds) =
            outbox.backlog().await.map_err(|e| bm_status::ErrorChain(&e).to_string())?;
        Ok(Some(Backlog { pending, oldest_pending_seconds }))
    }
}

/// The OpsService of a service over its database `pool`.
#[derive(Debug, Clone)]
pub struct OpsHandler {
    pool: PgPool,
    ops: Arc<dyn ServiceOps>,
}

impl OpsHandler {
    /// The handler for the service whose specifics are `ops`.
    pub fn new(pool: PgPool, ops: Arc<dyn ServiceOps>) -> Self {
        Self { pool, ops }
    }

    /// Re-drives the parked message `id`; false if it is not parked (any more).
    pub async fn retry(&self, id: i64) -> Result<bool, RedriveError> {
        let mut tx = self.pool.begin().await?;
        let message: Option<ParkedMessage> = sqlx::query_as(
            "SELECT id, subject, payload, error, deliveries, parked_at FROM parked_message WHERE id = $1 \
             FOR UPDATE SKIP LOCKED",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(message) = message else { return Ok(false) };
        self.ops.redrive(&mut tx, &message).await?;
        sqlx::query("DELETE FROM parked_message WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        tracing::warn!(id, subject = %message.subject, "parked message re-driven");
        metrics::counter!("bm_events_redriven_total").increment(1);
        Ok(true)
    }

    /// Drops parked messages: `id`, or all when `None`; how many.
    pub async fn discard(&self, id: Option<i64>) -> Result<u64, sqlx::Error> {
        let done = match id {
            Some(id) => sqlx::query("DELETE FROM parked_message WHERE id = $1").bind(id).execute(&self.pool).await?,
            None => sqlx::query("DELETE FROM parked_message").execute(&self.pool).await?,
        };
        tracing::warn!(?id, discarded = done.rows_affected(), "parked messages discarded");
        Ok(done.rows_affected())
    }
}

/// `Some(id)` for one message, `None` for all; anything else is INVALID_ARGUMENT.
fn target(id: i64, all: bool) -> Result<Option<i64>, Status> {
    match (id, all) {
        (id, false) if id > 0 => Ok(Some(id)),
        (0, true) => Ok(None),
        _ => Err(invalid_argument("id", "give exactly one of id > 0 or all = true")),
    }
}

fn redrive_status(error: &RedriveError) -> Status {
    match error {
        RedriveError::Database(e) => bm_status::unavailable("postgres", e),
        RedriveError::Unavailable(_) => bm_status::unavailable("nats", error),
        RedriveError::Refused(reason) => to_status(ErrorCode::IllegalParameter, format!("cannot re-drive: {reason}")),
    }
}

fn not_parked(id: i64) -> Status {
    to_status(ErrorCode::NotFound, format!("no parked message {id} (never parked, or already re-driven or discarded)"))
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: at.timestamp(), nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0) }
}

#[tonic::async_trait]
impl OpsService for OpsHandler {
    async fn list_parked_messages(
        &self,
        request: Request<pb::ListParkedMessagesRequest>,
    ) -> Result<Response<pb::ListParkedMessagesResponse>, Status> {
        let limit = i64::from(bm_status::page_limit(request.into_inner().limit, 100, MAX_LIST)?);
        let rows: Vec<ParkedMessage> = sqlx::query_as(
            "SELECT id, subject, payload, error, deliveries, parked_at FROM parked_message ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| bm_status::unavailable("postgres", &e))?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM parked_message")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| bm_status::unavailable("postgres", &e))?;
        let messages = rows
            .into_iter()
            .map(|m| pb::ParkedMessage {
                id: m.id,
                subject: m.subject,
                payload: m.payload,
                error: m.error,
                deliveries: m.deliveries,
                parked_at: Some(timestamp(m.parked_at)),
            })
            .collect();
        Ok(Response::new(pb::ListParkedMessagesResponse { messages, total }))
    }

    async fn retry_parked_messages(
        &self,
        request: Request<pb::RetryParkedMessagesRequest>,
    ) -> Result<Response<pb::RetryParkedMessagesResponse>, Status> {
        let request = request.into_inner();
        let retried = if let Some(id) = target(request.id, request.all)? {
            if !self.retry(id).await.map_err(|e| redrive_status(&e))? {
                return Err(not_parked(id));
            }
            1
        } else {
            let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM parked_message ORDER BY id LIMIT $1")
                .bind(MAX_BATCH)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| bm_status::unavailable("postgres", &e))?;
            let mut retried = 0;
            for id in ids {
                // Stop at the first failure: what is left stays parked, nothing half-done.
                if self.retry(id).await.map_err(|e| redrive_status(&e))? {
                    retried += 1;
                }
            }
            retried
        };
        Ok(Response::new(pb::RetryParkedMessagesResponse { retried }))
    }

    async fn discard_parked_messages(
        &self,
        request: Request<pb::DiscardParkedMessagesRequest>,
    ) -> Result<Response<pb::DiscardParkedMessagesResponse>, Status> {
        let request = request.into_inner();
        let id = target(request.id, request.all)?;
        let discarded = self.discard(id).await.map_err(|e| bm_status::unavailable("postgres", &e))?;
        if discarded == 0
            && let Some(id) = id
        {
            return Err(not_parked(id));
        }
        Ok(Response::new(pb::DiscardParkedMessagesResponse { discarded: i64::try_from(discarded).unwrap_or(i64::MAX) }))
    }

    async fn get_outbox_backlog(
        &self,
        _request: Request<pb::GetOutboxBacklogRequest>,
    ) -> Result<Response<pb::GetOutboxBacklogResponse>, Status> {
        let backlog = self.ops.outbox_backlog().await.map_err(|reason| {
            tracing::warn!(%reason, "cannot read the outbox backlog");
            to_status(ErrorCode::Unavailable, "postgres is unavailable, try again later")
        })?;
        Ok(Response::new(match backlog {
            Some(b) => pb::GetOutboxBacklogResponse {
                has_outbox: true,
                pending: b.pending,
                oldest_pending_seconds: b.oldest_pending_seconds,
            },
            None => pb::GetOutboxBacklogResponse::default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_target() {
        assert_eq!(target(5, false).unwrap(), Some(5));
        assert_eq!(target(0, true).unwrap(), None);
        for (id, all) in [(0, false), (5, true), (-1, false), (-1, true)] {
            assert_eq!(target(id, all).unwrap_err().code(), tonic::Code::InvalidArgument, "{id} {all}");
        }
    }
}
