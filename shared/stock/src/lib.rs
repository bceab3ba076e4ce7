//! Stock counters in Redis for award stock (strategy-draw) and sku stock (activity-quota).
//!
//! One Lua script takes a unit atomically: if the holder (a raffle order, a recharge)
//! already holds a unit it says which; a missing counter is reported so the caller rebuilds
//! it from its durable records; the counter never goes below zero. A second script gives a
//! unit back, only while the holder still holds it. The caller owns the key names (with its
//! prefix and hash tag) and the durable truth in Postgres (ARCHITECTURE.md §8.7).

use deadpool_redis::{Pool, redis};

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
if ARGV[3] == '0' then
  local held = redis.call('GET', KEYS[2])
  if held then return {1, tonumber(held)} end
end
local left = redis.call('GET', KEYS[1])
if not left then return {-1, 0} end
left = tonumber(left)
if left <= 0 then return {0, 0} end
if ARGV[3] == '1' then return {2, left} end
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
#[derive(Clone)]
pub struct StockCounters {
    pool: Pool,
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
        Self { pool, take: redis::Script::new(TAKE), release: redis::Script::new(RELEASE) }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn connection(&self) -> Result<deadpool_redis::Connection, StockError> {
        self.pool.get().await.map_err(failed)
    }

    /// Takes one unit of `counter` for the holder marked by `holder`, storing `tag` with it.
    /// With `peek` it only looks (and ignores the holder): a plain `GET`, which answers what
    /// the script's peek branch would, at a fraction of Redis' cost for a script call.
    pub async fn take(&self, counter: &str, holder: &str, tag: i64, peek: bool) -> Result<Take, StockError> {
        if peek {
            let left: Option<i64> =
                redis::cmd("GET").arg(counter).query_async(&mut self.connection().await?).await.map_err(failed)?;
            return Ok(match left {
                None => Take::Missing,
                Some(left) if left <= 0 => Take::Empty,
                Some(left) => Take::Taken { left },
            });
        }
        let (kind, value): (i64, i64) = self
            .take
            .key(counter)
            .key(holder)
            .arg(tag)
            .arg(HOLDER_TTL_SECS)
            .arg(if peek { "1" } else { "0" })
            .invoke_async(&mut self.connection().await?)
            .await
            .map_err(failed)?;
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
            .release
            .key(counter)
            .key(holder)
            .arg(tag)
            .invoke_async(&mut self.connection().await?)
            .await
            .map_err(failed)?;
        Ok(released == 1)
    }

    /// Whether `counter` exists.
    pub async fn exists(&self, counter: &str) -> Result<bool, StockError> {
        redis::cmd("EXISTS").arg(counter).query_async(&mut self.connection().await?).await.map_err(failed)
    }

    /// Sets `counter` to `value` unless it exists; true if it was set.
    pub async fn set_if_absent(&self, counter: &str, value: i64) -> Result<bool, StockError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(counter)
            .arg(value)
            .arg("NX")
            .query_async(&mut self.connection().await?)
            .await
            .map_err(failed)?;
        Ok(set.is_some())
    }

    /// The values of `counters` (`None` where absent).
    pub async fn values(&self, counters: &[String]) -> Result<Vec<Option<i64>>, StockError> {
        if counters.is_empty() {
            return Ok(Vec::new());
        }
        redis::cmd("MGET").arg(counters).query_async(&mut self.connection().await?).await.map_err(failed)
    }
}
