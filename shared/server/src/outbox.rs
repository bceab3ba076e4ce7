//! The transactional outbox (ARCHITECTURE.md §5) every service with events to guarantee
//! shares: a task row is written in the transaction of the business rows it announces
//! ([`OutboxStore::enqueue_in`]), published right after commit by the caller
//! ([`Outbox::publish_committed`]), and otherwise by the relay ([`Outbox::relay_once`],
//! [`run_relay`]), which claims due tasks under a lease and retries failures with capped
//! exponential backoff, for ever. A publish carries `Nats-Msg-Id` = the task id, so a task
//! published twice (caller and relay, or two relays after a lease ended) is stored once.
//!
//! Each service keeps its own `outbox_task` table of one shape (id, user_id, subject,
//! payload JSON, state pending/completed/failed/parked, attempts, next_attempt_at,
//! last_error, created_at, updated_at); see `services/award/migrations`.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream;
use bm_kernel::Clock;
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

use crate::ConfigError;

/// Attempts after which every further failure of a task is logged as an error.
const ALERT_AFTER_ATTEMPTS: i32 = 10;

/// The most task ids one completion statement marks.
const COMPLETE_BATCH_MAX: usize = 256;

/// Completions that can wait for the completer before a publisher waits (back-pressure).
const COMPLETE_QUEUE_CAPACITY: usize = 4_096;

/// How long to wait before the next attempt after `attempts` failed ones: `base` doubled per
/// failure, never more than `cap` (tasks are retried at the cap for ever, never dropped).
pub fn retry_delay(attempts: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(31);
    base.saturating_mul(1 << doublings).min(cap)
}

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
    /// When the relay may first pick it (the caller publishes it before that).
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

/// The `outbox_task` table of one service's database.
#[derive(Debug, Clone)]
pub struct OutboxStore {
    pool: sqlx::PgPool,
}

impl OutboxStore {
    /// The outbox of the database behind `pool`.
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool }
    }

    /// Inserts `task` inside `tx` (with the business rows it announces).
    pub async fn enqueue_in(tx: &mut sqlx::PgConnection, task: &NewTask) -> Result<(), sqlx::Error> {
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
    pub async fn backlog(&self) -> Result<(i64, f64), sqlx::Error> {
        sqlx::query_as(
            "SELECT count(*), COALESCE(extract(epoch FROM now() - min(created_at)), 0)::DOUBLE PRECISION \
             FROM outbox_task WHERE state IN ('pending', 'failed')",
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Claims up to `limit` due tasks (`pending` or `failed` with `next_attempt_at <= now`):
    /// counts the attempt and moves `next_attempt_at` to `lease_until`, so no other relay
    /// (replica) takes them meanwhile and a relay that dies releases them when the lease ends.
    /// `SKIP LOCKED` lets replicas claim side by side without waiting on each other.
    #[tracing::instrument(name = "db.outbox.claim", skip_all)]
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedTask>, sqlx::Error> {
        sqlx::query_as(
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
        .await
    }

    /// JetStream acknowledged the task.
    pub async fn complete(&self, id: &str) -> Result<(), sqlx::Error> {
        self.complete_all(&[id]).await
    }

    /// JetStream acknowledged these tasks: all marked in one statement (one commit).
    pub async fn complete_all(&self, ids: &[&str]) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE outbox_task SET state = 'completed', updated_at = now() \
             WHERE id = ANY($1) AND state <> 'completed'",
        )
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The caller's own publish after commit failed: the task stays `pending` with the
    /// error, for the relay from `next_attempt_at`.
    pub async fn note_publish_failure(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
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
    pub async fn fail(&self, id: &str, error: &str, next_attempt_at: DateTime<Utc>) -> Result<(), sqlx::Error> {
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

/// When the outbox is (re)tried.
#[derive(Debug, Clone, Copy)]
pub struct OutboxTiming {
    /// How long a new task is left to the caller's own publish before the relay may take it.
    pub relay_after: Duration,
    /// How long a claimed task stays with the relay that claimed it.
    pub lease: Duration,
    /// The first retry delay; doubled per failure.
    pub retry_base: Duration,
    /// The longest retry delay (tasks are retried at this pace for ever).
    pub retry_max: Duration,
    /// Tasks claimed per relay round.
    pub batch: i64,
    /// How long a publish waits for JetStream's ack.
    pub publish_timeout: Duration,
}

/// The relay settings of a service (`service.…`; defaults fit production): what
/// [`OutboxTiming`] and the relay interval are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    /// How often the relay looks for due tasks.
    pub relay_interval_ms: u64,
    /// How long a new task is left to the caller's own publish before the relay may send it.
    pub relay_after_ms: u64,
    /// Tasks claimed per relay round.
    pub relay_batch_size: u32,
    /// How long a claimed task belongs to the relay that claimed it (longer than a publish).
    pub relay_lease_ms: u64,
    /// The first retry delay of a task whose publish failed; doubled per failure.
    pub retry_base_ms: u64,
    /// The longest retry delay; a task is retried at this pace for ever, never dropped.
    pub retry_max_ms: u64,
    /// How long a publish waits for JetStream's ack.
    pub publish_timeout_ms: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            relay_interval_ms: 1_000,
            relay_after_ms: 10_000,
            relay_batch_size: 100,
            relay_lease_ms: 30_000,
            retry_base_ms: 1_000,
            retry_max_ms: 60_000,
            publish_timeout_ms: 3_000,
        }
    }
}

impl RelaySettings {
    /// Fails on the first bad setting, named `<prefix><field>` (e.g. `service.relay_lease_ms`):
    /// every value but `relay_after_ms` (0: the relay may take a task at once) must be
    /// positive, `retry_base_ms <= retry_max_ms` and
    /// `relay_lease_ms > publish_timeout_ms` (a lease that ends mid-publish lets a second
    /// relay publish the task too).
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let positive = [
            ("relay_interval_ms", self.relay_interval_ms),
            ("relay_batch_size", u64::from(self.relay_batch_size)),
            ("relay_lease_ms", self.relay_lease_ms),
            ("retry_base_ms", self.retry_base_ms),
            ("retry_max_ms", self.retry_max_ms),
            ("publish_timeout_ms", self.publish_timeout_ms),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::invalid(format!("{prefix}{key}"), "must be greater than 0"));
        }
        if self.retry_base_ms > self.retry_max_ms {
            return Err(ConfigError::invalid(
                format!("{prefix}retry_base_ms"),
                format!("must not exceed {prefix}retry_max_ms"),
            ));
        }
        if self.relay_lease_ms <= self.publish_timeout_ms {
            return Err(ConfigError::invalid(
                format!("{prefix}relay_lease_ms"),
                format!("must exceed {prefix}publish_timeout_ms"),
            ));
        }
        Ok(())
    }

    /// The relay's poll interval.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.relay_interval_ms)
    }

    /// The outbox timing these settings make.
    pub fn timing(&self) -> OutboxTiming {
        OutboxTiming {
            relay_after: Duration::from_millis(self.relay_after_ms),
            lease: Duration::from_millis(self.relay_lease_ms),
            retry_base: Duration::from_millis(self.retry_base_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
            batch: i64::from(self.relay_batch_size),
            publish_timeout: Duration::from_millis(self.publish_timeout_ms),
        }
    }
}

/// What one relay round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayRound {
    /// Tasks claimed.
    pub claimed: usize,
    /// Tasks JetStream acknowledged.
    pub published: usize,
}

/// A service's outbox: its table, JetStream, the clock and the timing.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: OutboxStore,
    jetstream: jetstream::Context,
    clock: Arc<dyn Clock>,
    timing: OutboxTiming,
    completer: Completer,
}

impl Outbox {
    /// The outbox of `store`, published through `jetstream`. Starts its completer on the
    /// current runtime (it ends when the last clone of the outbox is dropped).
    pub fn new(store: OutboxStore, jetstream: jetstream::Context, clock: Arc<dyn Clock>, timing: OutboxTiming) -> Self {
        let completer = Completer::start(store.clone());
        Self { store, jetstream, clock, timing, completer }
    }

    /// The table.
    pub fn store(&self) -> &OutboxStore {
        &self.store
    }

    /// The timing.
    pub fn timing(&self) -> &OutboxTiming {
        &self.timing
    }

    fn after(&self, delay: Duration) -> DateTime<Utc> {
        self.clock.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    }

    /// A task for `payload` on `subject` with message id `id`, left to the caller's own
    /// publish for `relay_after` before the relay may take it.
    pub fn task(&self, id: String, user_id: String, subject: String, payload: String) -> NewTask {
        NewTask { id, user_id, subject, payload, next_attempt_at: self.after(self.timing.relay_after) }
    }

    /// Publishes `payload` on `subject` with `Nats-Msg-Id = message_id` within the
    /// configured publish timeout.
    pub async fn publish(&self, subject: &str, message_id: &str, payload: Vec<u8>) -> Result<(), String> {
        crate::events::publish_raw_within(&self.jetstream, subject, message_id, payload, self.timing.publish_timeout)
            .await
    }

    /// [`Outbox::publish_committed`] after the caller has its answer: the publish and its
    /// bookkeeping run on `tracker` (a graceful shutdown waits for them) in the caller's
    /// span. The task is committed, so nothing is lost if this never finishes: the relay
    /// sends it from `next_attempt_at`.
    pub fn publish_committed_later(&self, tracker: &TaskTracker, task: NewTask) {
        let outbox = self.clone();
        tracker.spawn(
            async move {
                outbox.publish_committed(&task).await;
            }
            .instrument(tracing::Span::current()),
        );
    }

    /// Publishes a freshly committed task; marks it completed on ack. Any failure leaves
    /// the task to the relay (logged, with the error on the task). True when JetStream
    /// acknowledged it now.
    pub async fn publish_committed(&self, task: &NewTask) -> bool {
        match self.publish(&task.subject, &task.id, task.payload.clone().into_bytes()).await {
            Ok(()) => {
                if let Err(error) = self.completer.complete(task.id.clone()).await {
                    // Published but not marked: the relay publishes it again and the stream
                    // (Nats-Msg-Id) or the idempotent consumer drops the repeat.
                    tracing::warn!(%error, task_id = %task.id, subject = %task.subject, "event published but not marked completed; the relay republishes it (de-duplicated)");
                }
                true
            }
            Err(error) => {
                tracing::warn!(%error, task_id = %task.id, subject = %task.subject, "event not published; the outbox relay will send it");
                let next = self.after(retry_delay(1, self.timing.retry_base, self.timing.retry_max));
                if let Err(note) = self.store.note_publish_failure(&task.id, &error, next).await {
                    tracing::warn!(error = %bm_status::ErrorChain(&note), task_id = %task.id, "cannot note the publish failure; the relay still sends the task");
                }
                false
            }
        }
    }

    /// One relay round: claim a batch of due tasks, publish them side by side (a broker
    /// outage costs one publish timeout per round, not one per task), record each outcome.
    #[tracing::instrument(name = "outbox.relay", skip_all, fields(claimed))]
    pub async fn relay_once(&self) -> Result<RelayRound, sqlx::Error> {
        let lease_until = self.after(self.timing.lease);
        let tasks = self.store.claim_due(self.clock.now(), lease_until, self.timing.batch).await?;
        tracing::Span::current().record("claimed", tasks.len());
        if tasks.is_empty() {
            return Ok(RelayRound::default());
        }
        let outcomes =
            join_all(tasks.iter().map(|task| self.publish(&task.subject, &task.id, task.payload.clone().into_bytes())))
                .await;
        let mut round = RelayRound { claimed: tasks.len(), published: 0 };
        let mut published = Vec::with_capacity(tasks.len());
        for (task, outcome) in tasks.iter().zip(outcomes) {
            match outcome {
                Ok(()) => published.push(task.id.as_str()),
                Err(error) => {
                    let attempts = u32::try_from(task.attempts).unwrap_or(0);
                    let next = self.after(retry_delay(attempts, self.timing.retry_base, self.timing.retry_max));
                    if task.attempts >= ALERT_AFTER_ATTEMPTS {
                        tracing::error!(task_id = %task.id, attempts, %error, "outbox task keeps failing; retrying at the cap");
                    } else {
                        tracing::warn!(task_id = %task.id, attempts, %error, "outbox task not published; retrying");
                    }
                    self.store.fail(&task.id, &error, next).await?;
                }
            }
        }
        if !published.is_empty() {
            published.sort_unstable();
            self.store.complete_all(&published).await?;
            round.published = published.len();
        }
        if round.published > 0 {
            tracing::info!(published = round.published, "outbox tasks relayed");
        }
        Ok(round)
    }

    /// Sets `bm_outbox_pending_tasks` and `bm_outbox_oldest_pending_seconds` (issue #11):
    /// what the relay still has to publish, and how long the oldest of it has waited.
    pub async fn export_backlog(&self) {
        match self.store.backlog().await {
            Ok((pending, oldest)) => {
                #[expect(clippy::cast_precision_loss, reason = "a task count, far below 2^52")]
                let pending = pending as f64;
                metrics::gauge!("bm_outbox_pending_tasks").set(pending);
                metrics::gauge!("bm_outbox_oldest_pending_seconds").set(oldest);
            }
            Err(error) => tracing::warn!(error = %bm_status::ErrorChain(&error), "cannot read the outbox backlog"),
        }
    }
}

/// Marks the tasks the callers' own publishes got acknowledged in groups (issue #9): each
/// waits for the statement that marks it, and whatever queued while one statement ran is
/// marked by the next one — one commit for many events under load, and a lone task at once
/// (no timer). A failed statement leaves its tasks pending for the relay, which publishes
/// them again (de-duplicated by `Nats-Msg-Id`, and the consumers are idempotent).
#[derive(Debug, Clone)]
struct Completer {
    queue: mpsc::Sender<(String, oneshot::Sender<Result<(), String>>)>,
}

impl Completer {
    fn start(store: OutboxStore) -> Self {
        let (queue, mut receiver) =
            mpsc::channel::<(String, oneshot::Sender<Result<(), String>>)>(COMPLETE_QUEUE_CAPACITY);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(COMPLETE_BATCH_MAX);
            while receiver.recv_many(&mut batch, COMPLETE_BATCH_MAX).await > 0 {
                // In key order, like every multi-row write here (no lock-order cycle with a relay).
                let mut ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
                ids.sort_unstable();
                #[expect(clippy::cast_precision_loss, reason = "a batch size, at most COMPLETE_BATCH_MAX")]
                metrics::histogram!("bm_outbox_complete_batch_size").record(ids.len() as f64);
                let result = store.complete_all(&ids).await.map_err(|e| bm_status::ErrorChain(&e).to_string());
                for (_, reply) in batch.drain(..) {
                    // The publisher may be gone (its task was cancelled): nothing to answer.
                    let _ = reply.send(result.clone());
                }
            }
        });
        Self { queue }
    }

    /// Marks `id` completed, in the next statement.
    async fn complete(&self, id: String) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((id, reply)).await.map_err(|_| "the outbox completer has stopped".to_owned())?;
        answer.await.map_err(|_| "the outbox completer has stopped".to_owned())?
    }
}

/// Every `interval` (at once again while a round fills its batch), relays due outbox tasks
/// and exports the backlog gauges, until `shutdown`.
pub async fn run_relay(outbox: Outbox, interval: Duration, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let busy = match outbox.relay_once().await {
            Ok(round) => round.claimed > 0 && round.published == round.claimed,
            Err(error) => {
                tracing::warn!(error = %bm_status::ErrorChain(&error), "outbox relay round failed; retrying next round");
                false
            }
        };
        if busy {
            continue;
        }
        outbox.export_backlog().await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_the_cap() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_mins(1));
        let delays: Vec<u64> = (0..10).map(|n| retry_delay(n, base, cap).as_secs()).collect();
        assert_eq!(delays, [1, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_delay(u32::MAX, base, cap), cap, "no overflow after many attempts");
    }

    #[test]
    fn relay_settings_are_checked_and_name_the_bad_key() {
        assert!(RelaySettings::default().validate("service.").is_ok());
        let zero = RelaySettings { relay_batch_size: 0, ..RelaySettings::default() };
        assert!(zero.validate("service.outbox.").unwrap_err().to_string().contains("service.outbox.relay_batch_size"));
        let short_lease = RelaySettings { relay_lease_ms: 3_000, ..RelaySettings::default() };
        assert!(short_lease.validate("service.").unwrap_err().to_string().contains("service.relay_lease_ms"));
        let base_above_cap = RelaySettings { retry_base_ms: 70_000, ..RelaySettings::default() };
        assert!(base_above_cap.validate("service.").unwrap_err().to_string().contains("service.retry_base_ms"));
        let timing = RelaySettings::default().timing();
        assert_eq!(
            (timing.batch, timing.lease, timing.publish_timeout),
            (100, Duration::from_secs(30), Duration::from_secs(3))
        );
    }
}
