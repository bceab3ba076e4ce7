//! Redis: the shared armory copy of each strategy and the award stock counters.
//!
//! Keys (all behind `redis.key_prefix`, with the strategy id as a hash tag so a strategy's
//! keys share one cluster slot):
//! - `strategy:{<sid>}:armory` — the assembled strategy (JSON), written by ArmoryStrategy;
//! - `strategy:{<sid>}:stock:<award_id>` — units left;
//! - `strategy:{<sid>}:order:<order_id>` — the award whose unit an order holds.

use std::time::Duration;

use bm_stock::StockCounters;
use deadpool_redis::redis;

use super::StrategyStore;
use crate::{
    domain::Strategy,
    events::StockEvents,
    usecase::{AwardStock, StrategyError, Take},
};

fn redis_error(error: impl std::fmt::Display) -> StrategyError {
    StrategyError::Redis(error.to_string())
}

impl From<bm_stock::StockError> for StrategyError {
    fn from(error: bm_stock::StockError) -> Self {
        Self::Redis(error.0)
    }
}

/// The strategy service's Redis state.
#[derive(Debug, Clone)]
pub struct RedisStrategyCache {
    counters: StockCounters,
    prefix: String,
    rebuild_settle: Duration,
}

impl RedisStrategyCache {
    /// A cache with every key behind `prefix`; a lost counter is rebuilt after
    /// `rebuild_settle` (longer than a draw takes from its stock take to its record).
    pub fn new(pool: deadpool_redis::Pool, prefix: &str, rebuild_settle: Duration) -> Self {
        Self { counters: StockCounters::new(pool), prefix: prefix.to_owned(), rebuild_settle }
    }

    fn armory_key(&self, strategy_id: i64) -> String {
        format!("{}strategy:{{{strategy_id}}}:armory", self.prefix)
    }

    /// The stock counter key of an award.
    pub fn stock_key(&self, strategy_id: i64, award_id: i32) -> String {
        format!("{}strategy:{{{strategy_id}}}:stock:{award_id}", self.prefix)
    }

    fn order_key(&self, strategy_id: i64, order_id: &str) -> String {
        format!("{}strategy:{{{strategy_id}}}:order:{order_id}", self.prefix)
    }

    async fn connection(&self) -> Result<deadpool_redis::Connection, StrategyError> {
        self.counters.pool().get().await.map_err(redis_error)
    }

    /// Publishes the assembled strategy for every replica.
    pub async fn save_strategy(&self, strategy: &Strategy) -> Result<(), StrategyError> {
        let json = serde_json::to_string(strategy).map_err(|e| StrategyError::Corrupt(e.to_string()))?;
        redis::cmd("SET")
            .arg(self.armory_key(strategy.strategy_id))
            .arg(json)
            .query_async::<()>(&mut self.connection().await?)
            .await
            .map_err(redis_error)
    }

    /// The strategy another replica armoried, if any.
    pub async fn load_strategy(&self, strategy_id: i64) -> Result<Option<Strategy>, StrategyError> {
        let json: Option<String> = redis::cmd("GET")
            .arg(self.armory_key(strategy_id))
            .query_async(&mut self.connection().await?)
            .await
            .map_err(redis_error)?;
        json.map(|json| {
            serde_json::from_str(&json).map_err(|e| StrategyError::Corrupt(format!("armory of {strategy_id}: {e}")))
        })
        .transpose()
    }

    /// Sets the award's counter from the database (opening stock minus recorded draws)
    /// unless it exists: a warm counter is never reset.
    pub async fn ensure_counter(
        &self,
        store: &StrategyStore,
        strategy_id: i64,
        award_id: i32,
    ) -> Result<(), StrategyError> {
        let key = self.stock_key(strategy_id, award_id);
        if self.counters.exists(&key).await? {
            return Ok(());
        }
        let Some((opening, mut consumed)) = store.stock_ledger(strategy_id, award_id).await? else { return Ok(()) };
        if consumed > 0 {
            // A rebuild (Redis lost the counter after draws happened): draws that took a
            // unit just before the loss may not have recorded it yet. Let them land, then
            // count, so the rebuilt counter does not hand their units out again.
            tokio::time::sleep(self.rebuild_settle).await;
            consumed = store.stock_ledger(strategy_id, award_id).await?.map_or(consumed, |(_, c)| c);
        }
        let left = (opening - consumed).max(0);
        if self.counters.set_if_absent(&key, left).await? {
            tracing::info!(strategy_id, award_id, left, "stock counter set from the database");
        }
        Ok(())
    }

    /// Gives back the unit `order_id` took of `award_id` (a concurrent attempt of the same
    /// order recorded another result).
    pub async fn release(&self, strategy_id: i64, award_id: i32, order_id: &str) -> Result<(), StrategyError> {
        let key = self.stock_key(strategy_id, award_id);
        let released = self.counters.release(&key, &self.order_key(strategy_id, order_id), i64::from(award_id)).await?;
        tracing::info!(strategy_id, award_id, order_id, released, "stock unit given back");
        Ok(())
    }

    /// The counters of `award_ids` (`None` where absent), for the batch sync.
    pub async fn counters(&self, strategy_id: i64, award_ids: &[i32]) -> Result<Vec<Option<i64>>, StrategyError> {
        let keys: Vec<String> = award_ids.iter().map(|id| self.stock_key(strategy_id, *id)).collect();
        Ok(self.counters.values(&keys).await?)
    }

    /// The stock used by draws: this cache, rebuilding from `store`, announcing zero on `events`.
    pub fn stock_for<'a>(&'a self, store: &'a StrategyStore, events: &'a StockEvents) -> RedisStock<'a> {
        RedisStock { cache: self, store, events }
    }
}

/// [`AwardStock`] over Redis.
#[derive(Debug)]
pub struct RedisStock<'a> {
    cache: &'a RedisStrategyCache,
    store: &'a StrategyStore,
    events: &'a StockEvents,
}

impl AwardStock for RedisStock<'_> {
    async fn take(&self, strategy_id: i64, award_id: i32, order_id: &str) -> Result<Take, StrategyError> {
        let (counter, holder) =
            (self.cache.stock_key(strategy_id, award_id), self.cache.order_key(strategy_id, order_id));
        let peek = order_id.is_empty();
        let mut taken = self.cache.counters.take(&counter, &holder, i64::from(award_id), peek).await?;
        if taken == bm_stock::Take::Missing {
            self.cache.ensure_counter(self.store, strategy_id, award_id).await?;
            taken = self.cache.counters.take(&counter, &holder, i64::from(award_id), peek).await?;
        }
        match taken {
            bm_stock::Take::Held { tag } => {
                Ok(Take::AlreadyTaken { award_id: i32::try_from(tag).map_err(redis_error)? })
            }
            bm_stock::Take::Taken { left } => {
                if left == 0 && !peek {
                    self.events.award_stock_zero(strategy_id, award_id).await;
                }
                Ok(Take::Taken { left })
            }
            bm_stock::Take::Empty | bm_stock::Take::Missing => Ok(Take::Empty),
        }
    }
}
