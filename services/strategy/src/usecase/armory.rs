//! Armory (spec §4.1): assemble a strategy from its rows, publish it in Redis for every
//! replica, warm its stock counters (only when absent) and keep it in process.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use super::StrategyError;
use crate::{
    domain::Strategy,
    storage::{RedisStrategyCache, StrategyStore},
};

/// Armoried strategies: Redis holds the shared copy, this process a local one, so a draw
/// never reads a table from Redis.
#[derive(Debug, Clone)]
pub struct Armory {
    store: StrategyStore,
    cache: RedisStrategyCache,
    local: Arc<RwLock<HashMap<i64, Arc<Strategy>>>>,
}

impl Armory {
    pub(crate) fn new(store: StrategyStore, cache: RedisStrategyCache) -> Self {
        Self { store, cache, local: Arc::default() }
    }

    /// Builds the strategy from the database, stores it in Redis and warms its stock
    /// counters to `stock_opening - units consumed by recorded draws`, only where absent
    /// (a re-armory never resets stock). Idempotent.
    #[tracing::instrument(name = "strategy.armory", skip(self))]
    pub async fn armory(&self, strategy_id: i64) -> Result<Arc<Strategy>, StrategyError> {
        let strategy =
            Arc::new(self.store.load_strategy(strategy_id).await?.ok_or(StrategyError::StrategyNotFound(strategy_id))?);
        self.cache.save_strategy(&strategy).await?;
        for award in &strategy.awards {
            self.cache.ensure_counter(&self.store, strategy_id, award.award_id).await?;
        }
        self.local.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(strategy_id, strategy.clone());
        tracing::info!(awards = strategy.awards.len(), tiers = strategy.weight_tables.len(), "armoried");
        Ok(strategy)
    }

    /// The armoried strategy: the local copy, else the one in Redis (armoried by another
    /// replica), else ERR_BIZ_002.
    pub async fn get(&self, strategy_id: i64) -> Result<Arc<Strategy>, StrategyError> {
        if let Some(strategy) = self.local.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&strategy_id) {
            return Ok(strategy.clone());
        }
        let Some(strategy) = self.cache.load_strategy(strategy_id).await? else {
            return Err(if self.store.strategy_exists(strategy_id).await? {
                StrategyError::NotArmoried(strategy_id)
            } else {
                StrategyError::StrategyNotFound(strategy_id)
            });
        };
        let strategy = Arc::new(strategy);
        self.local.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(strategy_id, strategy.clone());
        Ok(strategy)
    }

    /// Replaces every local copy with the one in Redis (spec §14 bug 12): a re-armory on any
    /// replica after a data change reaches this one at the next refresh. A strategy missing
    /// from Redis (flushed) keeps its local copy. Returns how many copies changed.
    pub async fn refresh(&self) -> Result<usize, StrategyError> {
        let mut changed = 0;
        for local in self.armoried() {
            let Some(shared) = self.cache.load_strategy(local.strategy_id).await? else { continue };
            if shared != *local {
                tracing::info!(
                    strategy_id = local.strategy_id,
                    "armoried strategy changed elsewhere; local copy replaced"
                );
                self.local
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(local.strategy_id, Arc::new(shared));
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// The strategies armoried in this process.
    pub fn armoried(&self) -> Vec<Arc<Strategy>> {
        self.local.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect()
    }
}
