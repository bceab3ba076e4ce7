//! `bigmarket.activity.sku_stock_zero` (ARCHITECTURE.md §5): published when a recharge
//! takes a sku's last unit; consumed to zero the database view of the sku's stock. A lost
//! publish is only logged: the batch sync reaches the same state.

use std::sync::Arc;

use async_nats::jetstream;
use bm_server::events::{Envelope, HandleError, publish};
use serde::{Deserialize, Serialize};

use crate::storage::ActivityStore;

/// The payload `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuStockZero {
    /// The sku whose stock is gone.
    pub sku: i64,
}

/// Publisher of sku events.
#[derive(Debug, Clone)]
pub struct SkuEvents {
    jetstream: Option<jetstream::Context>,
    subject: String,
    clock: Arc<dyn bm_kernel::Clock>,
}

impl SkuEvents {
    /// Publishes on `subject` through `jetstream` (`None`: disabled).
    pub fn new(jetstream: Option<jetstream::Context>, subject: String, clock: Arc<dyn bm_kernel::Clock>) -> Self {
        Self { jetstream, subject, clock }
    }

    /// Announces that a sku's stock reached zero.
    pub async fn sku_stock_zero(&self, sku: i64) {
        let Some(jetstream) = &self.jetstream else { return };
        let envelope = Envelope {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: self.clock.now().timestamp_millis(),
            data: SkuStockZero { sku },
        };
        match publish(jetstream, &self.subject, &envelope).await {
            Ok(()) => tracing::info!(sku, "sku_stock_zero published"),
            Err(error) => tracing::warn!(sku, %error, "sku_stock_zero not published; the batch sync will catch up"),
        }
    }
}

/// Handles one sku_stock_zero: the database view of the sku's stock becomes 0.
pub async fn on_sku_stock_zero(store: &ActivityStore, event: Envelope<SkuStockZero>) -> Result<(), HandleError> {
    ActivityStore::sync_sku_surplus(store.pool(), event.data.sku, 0)
        .await
        .map_err(|e| HandleError::Retry(bm_status::ErrorChain(&e).to_string()))?;
    tracing::info!(sku = event.data.sku, "database sku stock zeroed");
    Ok(())
}

pub mod credit_adjust_success;
