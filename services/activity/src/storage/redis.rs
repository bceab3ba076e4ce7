//! Sku stock counters in Redis (spec §5.2): `activity:{<sku>}:stock` holds the units left;
//! `activity:{<sku>}:recharge:<user_id>:<out_business_no>` marks the recharge holding a
//! unit, so one recharge takes at most one unit however often it is retried.

use std::time::Duration;

use bm_stock::{StockCounters, Take};

use super::ActivityStore;
use crate::usecase::ActivityError;

impl From<bm_stock::StockError> for ActivityError {
    fn from(error: bm_stock::StockError) -> Self {
        Self::Redis(error.0)
    }
}

/// Sku stock.
#[derive(Debug, Clone)]
pub struct SkuStock {
    counters: StockCounters,
    prefix: String,
    rebuild_settle: Duration,
}

impl SkuStock {
    /// Counters behind `prefix`; a lost counter is rebuilt after `rebuild_settle`.
    pub fn new(pool: deadpool_redis::Pool, prefix: &str, rebuild_settle: Duration) -> Self {
        Self { counters: StockCounters::new(pool), prefix: prefix.to_owned(), rebuild_settle }
    }

    /// The counter key of a sku.
    pub fn stock_key(&self, sku: i64) -> String {
        format!("{}activity:{{{sku}}}:stock", self.prefix)
    }

    fn holder_key(&self, sku: i64, user_id: &str, out_business_no: &str) -> String {
        format!("{}activity:{{{sku}}}:recharge:{user_id}:{out_business_no}", self.prefix)
    }

    /// Sets the sku's counter from the database (opening stock minus recharge orders)
    /// unless it exists.
    pub async fn ensure_counter(&self, store: &ActivityStore, sku: i64) -> Result<(), ActivityError> {
        let key = self.stock_key(sku);
        if self.counters.exists(&key).await? {
            return Ok(());
        }
        let Some((opening, mut consumed)) = store.sku_ledger(sku).await? else { return Ok(()) };
        if consumed > 0 {
            // Recharges that took a unit just before Redis lost the counter may not have
            // written their order yet: let them land before counting.
            tokio::time::sleep(self.rebuild_settle).await;
            consumed = store.sku_ledger(sku).await?.map_or(consumed, |(_, c)| c);
        }
        let left = (opening - consumed).max(0);
        if self.counters.set_if_absent(&key, left).await? {
            tracing::info!(sku, left, "sku stock counter set from the database");
        }
        Ok(())
    }

    /// Takes one unit for the recharge (user_id, out_business_no), rebuilding a lost counter.
    pub async fn take(
        &self,
        store: &ActivityStore,
        sku: i64,
        user_id: &str,
        out_business_no: &str,
    ) -> Result<Take, ActivityError> {
        let (counter, holder) = (self.stock_key(sku), self.holder_key(sku, user_id, out_business_no));
        let mut taken = self.counters.take(&counter, &holder, sku, false).await?;
        if taken == Take::Missing {
            self.ensure_counter(store, sku).await?;
            taken = self.counters.take(&counter, &holder, sku, false).await?;
        }
        Ok(taken)
    }

    /// Gives the recharge's unit back (the recharge failed).
    pub async fn release(&self, sku: i64, user_id: &str, out_business_no: &str) -> Result<bool, ActivityError> {
        Ok(self.counters.release(&self.stock_key(sku), &self.holder_key(sku, user_id, out_business_no), sku).await?)
    }

    /// The counters of `skus` (`None` where absent).
    pub async fn values(&self, skus: &[i64]) -> Result<Vec<Option<i64>>, ActivityError> {
        let keys: Vec<String> = skus.iter().map(|sku| self.stock_key(*sku)).collect();
        Ok(self.counters.values(&keys).await?)
    }
}
