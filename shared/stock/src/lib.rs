//! Stock counters in Redis for award stock (strategy-draw) and sku stock (activity-quota).
//!
//! One Lua script takes a unit atomically: if the holder (a raffle order, a recharge)
//! already holds a unit it says which; a missing counter is reported so the caller rebuilds
//! it from its durable records; the counter never goes below zero. A second script gives a
//! unit back, only while the holder still holds it. The caller owns the key names (with its
//! prefix and hash tag) and the durable truth in Postgres (ARCHITECTURE.md §8.7).

use std::sync::{Arc, Mutex, PoisonError};

use deadpool_redis::{
    Pool,
    redis::{self, RedisError, RedisResult, aio::MultiplexedConnection},
};

/// What a take did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// A unit was taken (or, for a peek, is available); `left` units remain.
    Taken {
        /// Units left.
        left: i64,
    },
    /// The holder already holds a unit; `tag` is what it was taken for (e.g. an award id).
    Held {
        /// The tag stored with the holder's unit.
        tag: i64,
    },
    /// No stock left.
    Empty,
    /// The counter does not exist: warm or rebuild it, then take again.
    Missing,
}

/// Why a Redis call failed.
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct StockError(pub String);

const TAKE: &str = r"
local held = redis.call('GET', KEYS[2])
if held then return {1, tonumber(held)} end
local left = redis.call('GET', KEYS[1])
if not left then return {-1, 0} end
left = tonumber(left)
if left <= 0 then return {0, 0} end
left = redis.call('DECR', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return {2, left}
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  redis.call('INCR', KEYS[1])
  return 1
end
return 0
";

/// How long a holder's marker lives: far beyond any retry; the durable record outlives it.
pub const HOLDER_TTL_SECS: u64 = 7 * 24 * 3600;

/// Stock counters over a Redis pool.
///
/// The hot calls share one multiplexed connection taken from the pool: concurrent takes and
/// peeks are written to Redis together (one write, one read for many calls) instead of one
/// pooled connection each, which saves a wake-up and two syscalls per call on both sides.
/// A call that finds the shared connection broken (Redis restarted) drops it and is run
/// once more on a fresh one from the pool; every call here is safe to repeat (a take is
/// keyed by its holder, a release by its tag).
#[derive(Clone)]
pub struct StockCounters {
    pool: Pool,
    shared: Arc<Mutex<Option<MultiplexedConnection>>>,
    take: redis::Script,
    release: redis::Script,
}

impl std::fmt::Debug for StockCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StockCounters").finish_non_exhaustive()
    }
}

fn failed(error: impl std::fmt::Display) -> StockError {
    StockError(error.to_string())
}

impl StockCounters {
    /// Counters over `pool`.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            shared: Arc::new(Mutex::new(None)),
            take: redis::Script::new(TAKE),
            release: redis::Script::new(RELEASE),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The shared connection, taken from the pool when there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, StockError> {
        if let Some(connection) = self.shared.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Ok(connection);
        }
        let fresh = deadpool_redis::Connection::take(self.pool.get().await.map_err(failed)?);
        Ok(self.shared.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(fresh).clone())
    }

    /// Runs `call` on the shared connection; once more on a fresh one if it was broken.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, StockError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        match call(self.connection().await?).await {
            Ok(value) => Ok(value),
            Err(error) if broken(&error) => {
                self.shared.lock().unwrap_or_else(PoisonError::into_inner).take();
                call(self.connection().await?).await.map_err(failed)
            }
            Err(error) => Err(failed(error)),
        }
    }

    /// Takes one unit of `counter` for the holder marked by `holder`, storing `tag` with it.
    /// With `peek` it only looks (and ignores the holder): a plain `GET` of the counter.
    pub async fn take(&self, counter: &str, holder: &str, tag: i64, peek: bool) -> Result<Take, StockError> {
        if peek {
            let left: Option<i64> =
                self.run(|mut c| async move { redis::cmd("GET").arg(counter).query_async(&mut c).await }).await?;
            return Ok(match left {
                None => Take::Missing,
                Some(left) if left <= 0 => Take::Empty,
                Some(left) => Take::Taken { left },
            });
        }
        let (kind, value): (i64, i64) = self
            .run(|mut c| async move {
                self.take.key(counter).key(holder).arg(tag).arg(HOLDER_TTL_SECS).invoke_async(&mut c).await
            })
            .await?;
        Ok(match kind {
            1 => Take::Held { tag: value },
            2 => Take::Taken { left: value },
            0 => Take::Empty,
            _ => Take::Missing,
        })
    }

    /// Gives the holder's unit back if it still holds one tagged `tag`; true if it did.
    pub async fn release(&self, counter: &str, holder: &str, tag: i64) -> Result<bool, StockError> {
        let released: i64 = self
            .run(|mut c| async move { self.release.key(counter).key(holder).arg(tag).invoke_async(&mut c).await })
            .await?;
        Ok(released == 1)
    }

    /// Whether `counter` exists.
    pub async fn exists(&self, counter: &str) -> Result<bool, StockError> {
        self.run(|mut c| async move { redis::cmd("EXISTS").arg(counter).query_async(&mut c).await }).await
    }

    /// Sets `counter` to `value` unless it exists; true if it was set.
    pub async fn set_if_absent(&self, counter: &str, value: i64) -> Result<bool, StockError> {
        let set: Option<String> = self
            .run(|mut c| async move { redis::cmd("SET").arg(counter).arg(value).arg("NX").query_async(&mut c).await })
            .await?;
        Ok(set.is_some())
    }

    /// The values of `counters` (`None` where absent).
    pub async fn values(&self, counters: &[String]) -> Result<Vec<Option<i64>>, StockError> {
        if counters.is_empty() {
            return Ok(Vec::new());
        }
        self.run(|mut c| async move { redis::cmd("MGET").arg(counters).query_async(&mut c).await }).await
    }
}

/// Whether `error` means the connection is gone (so a fresh one should be used).
fn broken(error: &RedisError) -> bool {
    error.is_connection_dropped() || error.is_io_error() || error.is_unrecoverable_error()
}
