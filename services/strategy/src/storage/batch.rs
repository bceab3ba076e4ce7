//! Group commit of draw records (issue #9): concurrent draws hand their records to one
//! writer, which inserts whatever is waiting in one statement — one round trip and one
//! commit for many draws instead of one each.
//!
//! No timer: a batch is what queued up while earlier batches were being written, so a lone
//! draw is written at once and batches grow with the load. At most `in_flight` statements
//! run at a time (each holds one pooled connection), at most `max_batch` records each. A
//! record that waited longer than [`MAX_QUEUE_WAIT`] for its turn is refused without being
//! written (the draw fails as when the database is unavailable and can be retried): a
//! draw's record lands within `MAX_QUEUE_WAIT` + `database.acquire_timeout_ms` of its
//! stock take, which `service.stock_rebuild_settle_ms` must exceed.

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::{Semaphore, mpsc, oneshot},
    time::Instant,
};

use super::{DrawRecord, Recorded, StrategyStore};
use crate::usecase::StrategyError;

/// The longest a record waits for its batch before it is refused unwritten.
pub const MAX_QUEUE_WAIT: Duration = Duration::from_secs(1);

/// Records that can wait for a writer before `record` itself waits (back-pressure).
const QUEUE_CAPACITY: usize = 8_192;

/// How records are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// The most records in one statement.
    pub max_batch: usize,
    /// The most statements running at once.
    pub in_flight: usize,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self { max_batch: 128, in_flight: 4 }
    }
}

struct Pending {
    record: DrawRecord,
    queued_at: Instant,
    reply: oneshot::Sender<Result<Recorded, StrategyError>>,
}

/// The handle draws record through; clones share one writer task, which ends when the
/// last handle is dropped (after writing what was queued).
#[derive(Debug, Clone)]
pub struct ResultWriter {
    queue: mpsc::Sender<Pending>,
}

impl ResultWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(store: StrategyStore, settings: BatchSettings) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(store, settings, receiver));
        Self { queue }
    }

    /// Records `record` (as [`StrategyStore::insert_results`] does for one record), in the
    /// next batch.
    pub async fn record(&self, record: DrawRecord) -> Result<Recorded, StrategyError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Pending { record, queued_at: Instant::now(), reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StrategyError {
    StrategyError::Database(sqlx::Error::PoolClosed)
}

async fn write_batches(store: StrategyStore, settings: BatchSettings, mut receiver: mpsc::Receiver<Pending>) {
    let permits = Arc::new(Semaphore::new(settings.in_flight.max(1)));
    let max_batch = settings.max_batch.max(1);
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
        let mut batch = Vec::with_capacity(max_batch);
        if receiver.recv_many(&mut batch, max_batch).await == 0 {
            return;
        }
        let store = store.clone();
        tokio::spawn(async move {
            write(&store, batch).await;
            drop(permit);
        });
    }
}

/// Writes one batch and answers each of its records.
async fn write(store: &StrategyStore, batch: Vec<Pending>) {
    let (late, batch): (Vec<_>, Vec<_>) = batch.into_iter().partition(|p| p.queued_at.elapsed() > MAX_QUEUE_WAIT);
    for pending in late {
        // The receiver may be gone (a cancelled call): nothing to answer then.
        let _ = pending.reply.send(Err(StrategyError::Database(sqlx::Error::PoolTimedOut)));
    }
    if batch.is_empty() {
        return;
    }
    metrics::histogram!("bm_draw_record_batch_size").record(f64::from(u32::try_from(batch.len()).unwrap_or(u32::MAX)));
    if batch.len() == 1 {
        // Alone: its own error, unshared.
        return write_each(store, batch).await;
    }
    let records: Vec<DrawRecord> = batch.iter().map(|p| p.record.clone()).collect();
    match store.insert_results(&records).await {
        Ok(results) => {
            for (pending, result) in batch.into_iter().zip(results) {
                let _ = pending.reply.send(Ok(result));
            }
        }
        Err(StrategyError::Database(sqlx::Error::Database(error))) => {
            // One record the database refuses (a constraint, a deadlock) must not fail the
            // others: each is written alone, and only the bad one fails.
            tracing::warn!(%error, records = batch.len(), "a batch of draw records failed; writing them one by one");
            write_each(store, batch).await;
        }
        Err(error) => {
            let shared = shared_error(&error);
            for pending in batch {
                let _ = pending.reply.send(Err(shared()));
            }
        }
    }
}

/// Writes each record in a statement of its own and answers it with its own result.
async fn write_each(store: &StrategyStore, batch: Vec<Pending>) {
    for pending in batch {
        let result = store.insert_results(std::slice::from_ref(&pending.record)).await;
        // The receiver may be gone (a cancelled call): nothing to answer then.
        let _ = pending.reply.send(only(result));
    }
}

/// The answer of a batch of one.
fn only(result: Result<Vec<Recorded>, StrategyError>) -> Result<Recorded, StrategyError> {
    result?.pop().ok_or_else(|| StrategyError::Corrupt("no answer for a written draw record".into()))
}

/// One error per waiting draw from the batch's one error, keeping what the wire makes of
/// it: an unreachable database stays UNAVAILABLE, anything else stays INTERNAL.
fn shared_error(error: &StrategyError) -> impl Fn() -> StrategyError + use<> {
    let transient = match error {
        StrategyError::Database(sqlx::Error::PoolTimedOut) => Some(None),
        StrategyError::Database(sqlx::Error::PoolClosed) => Some(Some(std::io::ErrorKind::NotConnected)),
        StrategyError::Database(sqlx::Error::Io(io)) => Some(Some(io.kind())),
        _ => None,
    };
    let message = match error {
        StrategyError::Database(source) => source.to_string(),
        other => other.to_string(),
    };
    move || match transient {
        Some(None) => StrategyError::Database(sqlx::Error::PoolTimedOut),
        Some(Some(kind)) => StrategyError::Database(sqlx::Error::Io(std::io::Error::new(kind, message.clone()))),
        None => StrategyError::Corrupt(format!("recording the draw failed: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(error: StrategyError) -> tonic::Code {
        tonic::Status::from(error).code()
    }

    #[test]
    fn a_batch_error_reaches_every_draw_with_its_wire_meaning() {
        let timed_out = shared_error(&StrategyError::Database(sqlx::Error::PoolTimedOut));
        assert!(matches!(timed_out(), StrategyError::Database(sqlx::Error::PoolTimedOut)));
        assert_eq!(code(timed_out()), tonic::Code::Unavailable);

        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let io = shared_error(&StrategyError::Database(sqlx::Error::Io(refused)));
        match io() {
            StrategyError::Database(sqlx::Error::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
                assert!(e.to_string().contains("refused"), "{e}");
            }
            other => panic!("an I/O error stays one: {other:?}"),
        }
        assert_eq!(code(io()), tonic::Code::Unavailable);
        assert_eq!(code(shared_error(&StrategyError::Database(sqlx::Error::PoolClosed))()), tonic::Code::Unavailable);

        let protocol = shared_error(&StrategyError::Database(sqlx::Error::Protocol("bad frame".into())));
        assert!(protocol().to_string().contains("bad frame"), "{}", protocol());
        assert_eq!(code(protocol()), tonic::Code::Internal);
    }

    #[test]
    fn a_batch_of_one_answers_its_one_result() {
        let retired = only(Ok(vec![Recorded::EpochRetired])).unwrap();
        assert_eq!(retired, Recorded::EpochRetired);
        assert!(matches!(only(Ok(Vec::new())), Err(StrategyError::Corrupt(_))));
        assert!(matches!(only(Err(StrategyError::Redis("down".into()))), Err(StrategyError::Redis(_))));
    }
}
