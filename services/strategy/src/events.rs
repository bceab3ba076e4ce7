//! `bigmarket.strategy.award_stock_zero` (ARCHITECTURE.md §5): published when a draw takes
//! an award's last unit; consumed to zero the database view of that award's stock.
//!
//! The event only makes the database catch up sooner: the batch sync converges it to the
//! Redis counter anyway, so a publish that fails (NATS down) is logged, not retried.

use std::sync::Arc;

use async_nats::jetstream;
use bm_server::events::{Envelope, HandleError, publish};
use serde::{Deserialize, Serialize};

use crate::storage::StrategyStore;

/// The payload `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwardStockZero {
    /// The strategy.
    pub strategy_id: i64,
    /// The award whose stock is gone.
    pub award_id: i32,
}

/// Publisher of stock events.
#[derive(Debug, Clone)]
pub struct StockEvents {
    jetstream: Option<jetstream::Context>,
    subject: String,
    clock: Arc<dyn bm_kernel::Clock>,
}

impl StockEvents {
    /// Publishes on `subject` through `jetstream` (`None`: publishing disabled, for benches).
    pub fn new(jetstream: Option<jetstream::Context>, subject: String, clock: Arc<dyn bm_kernel::Clock>) -> Self {
        Self { jetstream, subject, clock }
    }

    /// Announces that an award's stock reached zero.
    pub async fn award_stock_zero(&self, strategy_id: i64, award_id: i32) {
        let Some(jetstream) = &self.jetstream else { return };
        let envelope = Envelope {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: self.clock.now().timestamp_millis(),
            data: AwardStockZero { strategy_id, award_id },
        };
        match publish(jetstream, &self.subject, &envelope).await {
            Ok(()) => tracing::info!(strategy_id, award_id, "award_stock_zero published"),
            Err(error) => {
                tracing::warn!(strategy_id, award_id, %error, "award_stock_zero not published; the batch sync will catch up");
            }
        }
    }
}

/// Handles one award_stock_zero: the database view of the award's stock becomes 0.
pub async fn on_award_stock_zero(store: &StrategyStore, event: Envelope<AwardStockZero>) -> Result<(), HandleError> {
    let AwardStockZero { strategy_id, award_id } = event.data;
    StrategyStore::sync_surplus(store.pool(), strategy_id, award_id, 0)
        .await
        .map_err(|e| HandleError::Retry(bm_status::ErrorChain(&e).to_string()))?;
    tracing::info!(strategy_id, award_id, "database stock zeroed");
    Ok(())
}
