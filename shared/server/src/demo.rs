//! A service's demo data: `seed` loads it (idempotent, never resets anything) and
//! `reset-demo` puts it back to its initial state on a running system (docs/operations.md,
//! "Resetting the demo"): every user's rows go, stock goes back to its opening, the
//! service's Redis keys go, so the next armory rebuilds the counters from the database
//! (ARCHITECTURE.md §8.7).

use deadpool_redis::{Pool as RedisPool, redis};
use sqlx::{Connection, PgPool, Postgres, Transaction};

use crate::{
    config::{DatabaseSettings, RedisSettings, redact_url},
    infra::{StartupError, connect_redis},
};

/// A service's demo data (`services/<svc>/seed/`).
#[derive(Debug, Clone, Copy)]
pub struct DemoData {
    /// `demo.sql`: idempotent inserts of the demo configuration, run by `seed` and as the
    /// last step of `reset-demo`.
    pub seed: &'static str,
    /// `reset.sql`: refuses a database that holds more than the demo configuration, deletes
    /// every user's rows and puts stock back to its opening. `reset-demo` runs it and then
    /// `seed` in one transaction.
    pub reset: &'static str,
    /// The service's Redis keys are `<redis.key_prefix><namespace>…` (e.g. `strategy:`);
    /// `reset-demo` deletes them. `None`: the service keeps nothing in Redis.
    pub redis_namespace: Option<&'static str>,
}

/// The advisory-lock key that keeps a demo reset and a service's stock sync apart: a sync
/// round holds it shared for its whole read-Redis-then-write-Postgres round
/// ([`begin_stock_sync`]), `reset-demo` holds it exclusively from before its transaction until
/// after its last Redis clean-up. Without it a round that read a counter just before the
/// reset would write that old figure over the restored stock just after it.
const STOCK_SYNC_LOCK: i64 = 0x626d_5f73_796e_6331; // "bm_sync1"

/// Opens the transaction of one stock-sync round, holding the shared side of the reset lock
/// until it ends: read the Redis counters and write the database view inside it.
pub async fn begin_stock_sync(pool: &PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)").bind(STOCK_SYNC_LOCK).execute(&mut *tx).await?;
    Ok(tx)
}

/// What `reset-demo` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetReport {
    /// Rows the reset script deleted or restored.
    pub rows: u64,
    /// Redis keys deleted.
    pub redis_keys: u64,
}

/// Resets the demo data of the database behind `pool` and the service's Redis keys.
///
/// In one transaction: `reset` (which refuses a database that is not a demo's before
/// anything is touched, then deletes and restores), the Redis keys, `seed`. The keys go
/// while the transaction is open, so the running service's stock sync finds no counter to
/// copy over the restored rows once they commit; they go again after the commit, so a
/// counter a draw rebuilt from the old rows in between is gone too. The next armory (or
/// take) sets every counter from the restored database. The stock sync of a running service
/// waits for all of it ([`begin_stock_sync`]).
pub async fn reset(
    pool: &PgPool,
    database: &DatabaseSettings,
    redis: &RedisSettings,
    demo: &DemoData,
) -> Result<ResetReport, StartupError> {
    let failed = |source| StartupError::ResetDemo { url: database.redacted_url(), source };
    let keys = match demo.redis_namespace {
        Some(namespace) => Some((connect_redis(redis).await?, format!("{}{namespace}", redis.key_prefix))),
        None => None,
    };
    // A session lock on a connection of its own (detached: if anything below fails, dropping
    // it closes the connection and so releases the lock, rather than returning it to the pool
    // still held).
    let mut guard = pool.acquire().await.map_err(failed)?.detach();
    sqlx::query("SELECT pg_advisory_lock($1)").bind(STOCK_SYNC_LOCK).execute(&mut guard).await.map_err(failed)?;
    let mut tx = pool.begin().await.map_err(failed)?;
    let rows = sqlx::raw_sql(demo.reset).execute(&mut *tx).await.map_err(failed)?.rows_affected();
    let mut redis_keys = unlink_demo_keys(keys.as_ref(), redis).await?;
    sqlx::raw_sql(demo.seed).execute(&mut *tx).await.map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    redis_keys += unlink_demo_keys(keys.as_ref(), redis).await?;
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(STOCK_SYNC_LOCK).execute(&mut guard).await.map_err(failed)?;
    if let Err(error) = guard.close().await {
        tracing::debug!(%error, "closing the reset-lock connection failed; the server drops it");
    }
    if let Some((pool, _)) = keys {
        pool.close();
    }
    tracing::info!(url = %database.redacted_url(), rows, redis_keys, "demo data reset");
    Ok(ResetReport { rows, redis_keys })
}

async fn unlink_demo_keys(keys: Option<&(RedisPool, String)>, redis: &RedisSettings) -> Result<u64, StartupError> {
    let Some((pool, prefix)) = keys else { return Ok(0) };
    unlink_under(pool, prefix).await.map_err(|reason| StartupError::RedisReset {
        url: redact_url(&redis.url),
        pattern: key_pattern(prefix),
        reason,
    })
}

/// The SCAN pattern of every key starting with `prefix` (glob characters in it escaped).
fn key_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

/// Deletes every key starting with `prefix`: SCAN in batches (never KEYS, which blocks
/// Redis) and UNLINK (freed in the background). Returns how many were deleted.
pub async fn unlink_under(pool: &RedisPool, prefix: &str) -> Result<u64, String> {
    let pattern = key_pattern(prefix);
    let mut connection = pool.get().await.map_err(|e| e.to_string())?;
    let mut cursor: u64 = 0;
    let mut removed = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await
            .map_err(|e| e.to_string())?;
        if !keys.is_empty() {
            let unlinked: u64 =
                redis::cmd("UNLINK").arg(&keys).query_async(&mut connection).await.map_err(|e| e.to_string())?;
            removed += unlinked;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_matches_the_prefix_literally() {
        assert_eq!(key_pattern("bm:strategy:"), "bm:strategy:*");
        assert_eq!(key_pattern("a*b?[c]\\:"), "a\\*b\\?\\[c\\]\\\\:*");
        assert_eq!(key_pattern(""), "*");
    }
}
